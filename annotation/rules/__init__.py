"""The rule pre-annotator: figures, regions, programmes and their relations by rule.

It is the annotators' starting point in Label Studio and the baseline in every
evaluation table. Every suggestion carries a score (how reliable its rule is), so
Label Studio can sort tasks by it.
"""
from __future__ import annotations

from minzheng_ie.core.record import Doc
from minzheng_ie.core.schema import Schema, load_schema

from .figures import find_figures
from .meta import document_fields
from .programmes import QUOTED_AROUND_LEXICON, ProgrammeRules, find_programmes
from .regions import find_regions
from .relations import find_relations
from .script import simplified_shadow

VERSION = "rules-1.1"
# programme hits that are whole names: the regions inside them are not candidates
NAME_CUES = ("lexicon", QUOTED_AROUND_LEXICON)


def resolve(candidates: list[tuple[int, int, str, float]]) -> list[tuple[int, int, str, float]]:
    """Non-overlapping spans: the more reliable rule first, then the longer span (the spec's
    "longer, more specific entity wins" among equals); spans that overlap an accepted one are dropped."""
    # One byte per character, set where an accepted span lies: a candidate overlaps an accepted
    # span iff its own range holds a set byte. Checking and marking cost the candidate's length,
    # so the pass is linear in the characters the candidates cover (plus the sort), where testing
    # each candidate against every accepted span was quadratic in document length.
    taken = bytearray(max((c[1] for c in candidates), default=0))
    out = []
    for c in sorted(candidates, key=lambda c: (-c[3], -(c[1] - c[0]), c[0])):
        if taken.find(1, c[0], c[1]) != -1:
            continue
        taken[c[0]:c[1]] = b"\x01" * (c[1] - c[0])
        out.append(c)
    return sorted(out)


NAMED_SCHEME_ENDS = ("试点", "项目", "工程", "计划", "行动")
REGION_QUALIFIERS = ("", "农村", "城乡", "城市", "城镇")


def merge_region_qualified(text: str, spans: list[tuple[int, int, str, float]]) -> list[tuple[int, int, str, float]]:
    """怀化市|农村居家和社区养老服务改革试点 → one programme: a region that opens a named
    scheme's name stays inside the programme span (the spec's programme rules)."""
    out: list[tuple[int, int, str, float]] = []
    for span in spans:
        if out and span[2] == "programme" and out[-1][2] == "region" and text[span[0]:span[1]].endswith(NAMED_SCHEME_ENDS):
            gap = text[out[-1][1]:span[0]]
            if gap in REGION_QUALIFIERS:
                region = out.pop()
                out.append((region[0], span[1], "programme", min(region[3], span[3])))
                continue
        out.append(span)
    return out


class RuleTagger:
    model_version = VERSION

    def __init__(self, schema: Schema | None = None, programmes: ProgrammeRules | None = None) -> None:
        self.schema = schema or load_schema()
        self.programmes = programmes  # None: configs/programmes.yaml with its learnt part

    def entities(self, doc: Doc) -> Doc:
        """A new Doc with the rule entities only (no relations, fields or values): what a model
        trained with rule hints reads."""
        text = doc.text
        shadow = simplified_shadow(text)
        cands = [(f.start, f.end, f.label, f.score) for f in find_figures(text)]
        programmes = find_programmes(shadow, self.programmes)
        # a lexicon name that holds a region (怀化市农村居家和社区养老服务改革试点, 重庆慈善周) is
        # one programme span (the spec): the region inside it is not a candidate of its own.
        # Whole-name hits never overlap (the lexicon scan moves past each, and a quoted name
        # replaces the lexicon names inside it), so each position has at most one
        # name over it: a map from position to that name keeps the check linear in the text.
        name_at = {k: (h.start, h.end) for h in programmes if h.cue in NAME_CUES for k in range(h.start, h.end)}

        def inside_a_longer_name(start: int, end: int) -> bool:
            name = name_at.get(start)
            return name is not None and end <= name[1] and name[1] - name[0] > end - start

        cands += [(h.start, h.end, "region", h.score) for h in find_regions(shadow)
                  if not inside_a_longer_name(h.start, h.end)]
        cands += [(h.start, h.end, "programme", h.score) for h in programmes]
        out = Doc(doc.id, text, meta=doc.meta)
        for start, end, label, score in merge_region_qualified(text, resolve(cands)):
            out.add(start, end, label, score=score)
        # furniture reads this package's modules, so it is imported here, not at the top
        from minzheng_ie.annotation.furniture import drop_furniture

        drop_furniture(out)  # page furniture (打印 收藏, 扫一扫…) is never tagged
        return out

    def __call__(self, doc: Doc) -> Doc:
        """A new Doc with the rule entities and relations (the input's own entities are ignored)."""
        from minzheng_ie.annotation.normalize import normalise_doc

        out = self.entities(doc)
        out.relations = find_relations(out.text, out.entities, self.schema)
        document_fields(out)
        return normalise_doc(out)

    def link(self, doc: Doc) -> Doc:
        """Relations between the entities already in `doc` (evaluation given gold entities)."""
        out = Doc(doc.id, doc.text, entities=list(doc.entities), meta=doc.meta)
        out.relations = find_relations(doc.text, out.entities, self.schema)
        return out
