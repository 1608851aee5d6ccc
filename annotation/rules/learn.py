"""What the programme rules learn from gold.

    mzie annotate learn-rules annotation/data/gold/split.json:train -o configs/programmes-learned.yaml

The hand-written lexicon and patterns (configs/programmes.yaml) are measured against the
gold, cue by cue, and four things are written down, each with its evidence:

- `names`: programme names the annotators tag that the lexicon lacks. A surface joins when
  it is tagged at least `min_tagged` times and at `min_precision` or more of its occurrences
  (occurrences inside a longer gold programme span do not count: longest match finds those).
- `figure_owner_only`: lexicon names that the rules tag at least `min_hits` times with a
  precision below `min_precision`. They move to the figure owners, so they are tagged only
  where a figure follows (乡村振兴资金2.3亿元): the spec's figure-owner rule.
- `dropped_suffixes`: unquoted scheme suffixes (…行动, …工程) below `min_precision` on at
  least `min_hits` hits: the name-before-the-suffix pattern is dropped for them.
- `weak_followers`: words after a quoted name (“…”品牌, “…”专项) that made it a programme by
  themselves below `min_precision` on at least `min_hits` hits: they no longer do (a quoted
  name with a lexicon name inside, or ending in a scheme suffix, still is one).

Why one threshold: removing a set of predictions of precision p raises F1 exactly when
p < F1 / 2 (F1 = 2TP / (2TP + FP + FN); taking out tp of n predictions moves the numerator by
-2tp and the denominator by -n, so F1 rises iff tp/n < TP/(2TP + FP + FN)). The rules'
programme F1 is about 0.5 on dev, a break-even of ~0.25; the default 0.3 sits a little above
it, so a name has to be tagged clearly more often than that to join and a cue has to be right
clearly more often than that to stay.

Only the train split may be learnt from: dev chooses, test measures (annotation/data/gold/README.md).
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, replace

from minzheng_ie.core.config import read_yaml
from minzheng_ie.core.record import Doc
from minzheng_ie.core.schema import config_path

from . import RuleTagger
from .programmes import (LEARNED, QUOTED_SCHEME, ProgrammeRules, _bad_edges, apply_learned, find_programmes,
                         hand_rules)
from .script import simplified_shadow

log = logging.getLogger(__name__)

# a learnable name: two CJK characters at least, digits and Latin among them allowed (99公益日),
# no punctuation
NAME_OK = re.compile(r"^(?=(?:.*[\u4e00-\u9fff]){2})[\u4e00-\u9fff·0-9A-Za-z]{2,}$")


@dataclass(frozen=True)
class LearnSettings:
    min_precision: float = 0.3
    min_tagged: int = 2
    min_hits: int = 5


def _gold_programmes(doc: Doc, shadow: str) -> list[tuple[int, int, str]]:
    return [(e.start, e.end, shadow[e.start:e.end]) for e in doc.entities if e.label == "programme"]


def learn_names(docs: list[Doc], rules: ProgrammeRules, settings: LearnSettings) -> list[dict]:
    """Gold programme surfaces the lexicon lacks, tagged often enough and consistently enough."""
    tagged: Counter[str] = Counter()
    shadows = [simplified_shadow(d.text) for d in docs]
    for doc, shadow in zip(docs, shadows):
        tagged.update(s for _, _, s in _gold_programmes(doc, shadow))
    candidates = {s for s, n in tagged.items() if n >= settings.min_tagged and s not in rules.names
                  and NAME_OK.match(s) and not _bad_edges(s)}
    occurrences: Counter[str] = Counter()
    for doc, shadow in zip(docs, shadows):
        spans = _gold_programmes(doc, shadow)
        for name in candidates:
            for m in re.finditer(re.escape(name), shadow):
                inside_longer = any(a <= m.start() and m.end() <= b and (a, b) != m.span() for a, b, _ in spans)
                occurrences[name] += not inside_longer
    out = []
    for name in sorted(candidates):
        rate = tagged[name] / max(occurrences[name], tagged[name])
        if rate >= settings.min_precision:
            out.append({"name": name, "tagged": tagged[name], "occurrences": occurrences[name]})
    return out


def cue_precision(docs: list[Doc], rules: ProgrammeRules) -> dict[str, tuple[Counter, Counter]]:
    """Per lexicon name ("name"), unquoted suffix ("suffix") and the follower that alone made a
    quoted name a programme ("follower"): how many of the rule tagger's final programme spans
    came from it (hits) and how many of those are gold spans (correct)."""
    tagger = RuleTagger(programmes=rules)
    counts: dict[str, tuple[Counter, Counter]] = {k: (Counter(), Counter()) for k in ("name", "suffix", "follower")}
    for doc in docs:
        shadow = simplified_shadow(doc.text)
        gold = {(a, b) for a, b, _ in _gold_programmes(doc, shadow)}
        final = {(e.start, e.end) for e in tagger.entities(Doc(doc.id, doc.text)).entities if e.label == "programme"}
        for hit in find_programmes(shadow, rules):
            if (hit.start, hit.end) not in final:
                continue  # lost to another rule's span
            right = (hit.start, hit.end) in gold
            if hit.cue == "lexicon":
                kind, key = "name", shadow[hit.start:hit.end]
            elif hit.cue.startswith("name ending in "):
                kind, key = "suffix", hit.cue.removeprefix("name ending in ")
            elif hit.cue == QUOTED_SCHEME and not shadow[hit.start:hit.end].endswith(rules.suffixes):
                kind, key = "follower", shadow[hit.end + 1:hit.end + 3]  # after the closing quote
            else:
                continue
            counts[kind][0][key] += 1
            counts[kind][1][key] += right
    return counts


def learn_rules(docs: list[Doc], settings: LearnSettings = LearnSettings(), source: str = "") -> dict:
    """The content of configs/programmes-learned.yaml, learnt from `docs` (the train split)."""
    base = hand_rules()
    names = learn_names(docs, base, settings)
    # cues are measured with the new names in place: they change which span wins where they overlap
    with_names = {x["name"] for x in names}
    rules = replace(base, names=base.names | with_names)
    counts = cue_precision(docs, rules)

    def weak(kind: str, key: str, pool) -> list[dict]:
        hits, ok = counts[kind]
        return [{key: k, "hits": hits[k], "correct": ok[k]} for k in sorted(hits)
                if k in pool and hits[k] >= settings.min_hits and ok[k] / hits[k] < settings.min_precision]

    owner_only = weak("name", "name", base.names)  # learnt names are not second-guessed
    dropped = weak("suffix", "suffix", base.unquoted_suffixes)
    followers = weak("follower", "follower", base.quoted_followers)
    log.info("learnt from %d documents: %d names, %d figure-owner-only names, %d dropped suffixes, "
             "%d weak followers", len(docs), len(names), len(owner_only), len(dropped), len(followers))
    return {"source": source, "documents": len(docs), "min_precision": settings.min_precision,
            "min_tagged": settings.min_tagged, "min_hits": settings.min_hits,
            "names": names, "figure_owner_only": owner_only, "dropped_suffixes": dropped,
            "weak_followers": followers}


def settings_in_use() -> LearnSettings | None:
    """The settings configs/programmes-learned.yaml was written with (None without the file),
    so that jackknifed training hints are learnt the way the committed file was."""
    path = config_path(LEARNED)
    if not path.exists():
        return None
    data = read_yaml(path)
    return LearnSettings(**{k: data[k] for k in ("min_precision", "min_tagged", "min_hits") if k in data})


def learnt_rules(docs: list[Doc], settings: LearnSettings = LearnSettings()) -> ProgrammeRules:
    """The hand rules with what `docs` teach applied (for jackknifed training hints)."""
    return apply_learned(hand_rules(), learn_rules(docs, settings), "learnt rules")
