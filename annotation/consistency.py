"""Consistency checks over a whole gold corpus: same surface, same decision; every figure considered.

    mzie annotate consistency annotation/data/gold/split.json:all [--markdown]

Two kinds of finding, each a place for an annotator to look (not a verdict):

- `surface`: a string tagged as an entity somewhere is, elsewhere, tagged with another
  label, or left untagged where no other entity covers it. Only surfaces of two or more
  characters count (single characters such as 京 are too often part of other words),
  and an untagged occurrence inside a longer word of CJK characters on both sides is
  skipped when the tagged occurrences never sit in such a context either.
- `unlinked`: an amount, count or standard in a clause (between ，,；;：:) that also holds
  a programme, with no relation. The spec links such figures unless they are
  differences, savings or thresholds, so each one is either a missing relation or an
  exception worth being sure of.

The corpus is read once and each check is linear in its size (occurrences are found
with one regular expression per distinct surface length class, not per document pair).
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from minzheng_ie.core.record import Doc
from .rules.relations import clause_index
from minzheng_ie.core.spec import sentence_index

FIGURES = ("amount", "count", "standard")


@dataclass(frozen=True)
class Finding:
    kind: str  # surface | unlinked
    doc: str
    start: int
    end: int
    what: str  # one line: the decision and how it differs elsewhere
    context: str

    def to_json(self) -> dict:
        return self.__dict__.copy()


def _context(text: str, start: int, end: int, width: int = 18) -> str:
    left = text[max(0, start - width):start].replace("\n", " ")
    right = text[end:end + width].replace("\n", " ")
    return f"{left}【{text[start:end]}】{right}"


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def surface_findings(docs: list[Doc], min_chars: int = 2) -> list[Finding]:
    labels: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for d in docs:
        for e in d.entities:
            if len(e.text) >= min_chars and "\n" not in e.text:
                labels[e.text][e.label] += 1
    if not labels:
        return []
    out: list[Finding] = []
    # one alternation of every tagged surface, longest first, finds every occurrence in one pass
    pattern = re.compile("|".join(re.escape(s) for s in sorted(labels, key=len, reverse=True)))
    for d in docs:
        covered = [None] * len(d.text)
        for e in d.entities:
            for i in range(e.start, e.end):
                covered[i] = e
        for m in pattern.finditer(d.text):
            s, start, end = m.group(), m.start(), m.end()
            counts = labels[s]
            ent = covered[start]
            if ent is not None and (ent.start, ent.end) == (start, end):
                if len(counts) > 1:
                    others = ", ".join(f"{lab} ×{n}" for lab, n in counts.items() if lab != ent.label)
                    out.append(Finding("surface", d.id, start, end, f"{s!r} is {ent.label} here, elsewhere {others}",
                                       _context(d.text, start, end)))
                continue
            if any(covered[i] is not None for i in range(start, end)):
                continue  # part of another entity: a different reading, not an omission
            inside_word = start > 0 and end < len(d.text) and _is_cjk(d.text[start - 1]) and _is_cjk(d.text[end])
            if inside_word:
                continue
            tagged = ", ".join(f"{lab} ×{n}" for lab, n in counts.items())
            out.append(Finding("surface", d.id, start, end, f"{s!r} untagged here, tagged elsewhere ({tagged})",
                               _context(d.text, start, end)))
    return out


def unlinked_findings(docs: list[Doc]) -> list[Finding]:
    out = []
    for d in docs:
        sent, clause = sentence_index(d.text), clause_index(d.text)
        linked = {r.tail for r in d.relations}
        programmes = defaultdict(list)
        for e in d.entities:
            if e.label == "programme":
                programmes[clause[e.start]].append(e)
        for e in d.entities:
            if e.label not in FIGURES or e.id in linked:
                continue
            near = [p for p in programmes[clause[e.start]] if sent[p.start] == sent[e.start]]
            if near:
                names = "、".join(p.text for p in near)
                out.append(Finding("unlinked", d.id, e.start, e.end,
                                   f"{e.label} {e.text!r} shares its clause with {names} but has no relation",
                                   _context(d.text, e.start, e.end)))
    return out


def findings(docs: list[Doc]) -> list[Finding]:
    return surface_findings(docs) + unlinked_findings(docs)


def findings_markdown(found: list[Finding]) -> str:
    lines = [f"{len(found)} finding(s): {sum(f.kind == 'surface' for f in found)} surface, "
             f"{sum(f.kind == 'unlinked' for f in found)} unlinked", ""]
    for kind in ("surface", "unlinked"):
        rows = [f for f in found if f.kind == kind]
        if rows:
            lines += [f"## {kind}", "", "| document | offsets | finding | context |", "|---|---|---|---|"]
            lines += [f"| {f.doc} | {f.start}:{f.end} | {f.what} | {f.context} |" for f in rows]
            lines.append("")
    return "\n".join(lines)
