"""Relations by rule, within one sentence, as the spec states them.

- A figure links to the programme in its own clause (between ，,；;): the nearest one
  before it, else the nearest after it; if its clause has none, the nearest programme
  before it in the sentence (lower score).
- 分别 with as many figures as programmes: paired in order.
- Differences (比上年增加6元), savings (节约) and thresholds (5000户以上) are never linked.
- A region links to the nearest programme in its clause (in_region), the region part of an
  organisation name included (衡阳县民政局在“兜底解忧暖民心”行动中: the office runs it). A
  list of regions links to the programme of the clause just before it in the same sentence.
  A region whose clause has no programme links to the nearest programme before it in the
  sentence, else to the programmes of the first later clause that has one, either at most
  REGION_REACH characters away: a subject region governs the sentence
  (德州市按照…部署，基本医疗保险、工伤保险和生育保险统一执行).
"""
from __future__ import annotations

import bisect
import re

from minzheng_ie.core.record import Entity, Relation
from minzheng_ie.core.schema import Schema
from minzheng_ie.core.spec import sentence_index

CLAUSE_MARKS = "，,；;：:"
DIFFERENCE_WORDS = ("增加", "减少", "增长", "下降", "降低", "提高了", "增幅", "減少", "增長", "下降")
SAVING_WORDS = ("节约", "节省", "節約", "節省")
# Chosen on the train split's gold entities (in_region F1 0.663 -> 0.738 there, dev 0.817 -> 0.840):
# 20 loses recall (0.691), 40-80 gains, 150 or no limit adds mostly false links in long run-on
# sentences such as lists of pilot towns
REGION_REACH = 80


def clause_index(text: str) -> list[int]:
    idx, c = [], 0
    for ch in text:
        idx.append(c)
        if ch in CLAUSE_MARKS or ch in "。！？!?\n":
            c += 1
    return idx


def never_linked(text: str, e: Entity) -> bool:
    before = text[max(0, e.start - 12):e.start]
    after = text[e.end:e.end + 2]
    if after in ("以上", "以下") or after.startswith("以上"):
        return True
    if any(w in before[-4:] for w in DIFFERENCE_WORDS) and ("比" in before or "同比" in before):
        return True
    return any(w in before for w in SAVING_WORDS)


def grouped(entities: list[Entity], index: list[int]) -> dict[int, list[Entity]]:
    """Entities by the clause or sentence (`index` of their start), in their order: each figure
    looks only at the programmes of its own group, so the work is linear in the document
    rather than figures × programmes."""
    out: dict[int, list[Entity]] = {}
    for e in entities:
        out.setdefault(index[e.start], []).append(e)
    return out


def respectively_pairs(text: str, entities: list[Entity], sent: list[int], schema: Schema) -> list[Relation]:
    """分别: k programmes before it and k figures after it, in one sentence, pair in order."""
    by_sentence = grouped(entities, sent)
    out: list[Relation] = []
    for m in re.finditer("分[别別]", text):
        i = m.start()
        group = by_sentence.get(sent[i], [])
        before = [p for p in group if p.label == "programme" and p.end <= i]
        figs = [e for e in group if e.label in ("amount", "count", "standard") and e.start > i
                and not never_linked(text, e)]
        # the programmes listed last before 分别, as many as there are figures
        if figs and len(before) >= len(figs) > 1:
            for p, f in zip(before[-len(figs):], figs):
                rel = schema.relation_for("programme", f.label)
                if rel:
                    out.append(Relation(p.id, f.id, rel, 0.6))
    return out


class SentenceProgrammes:
    """One sentence's programmes by start, with their starts and ends for bisection (a run-on
    sentence can hold hundreds of programmes and regions)."""

    def __init__(self, programmes: list[Entity]):
        self.items = sorted(programmes, key=lambda p: (p.start, p.end))
        self.starts = [p.start for p in self.items]
        self.ends = [p.end for p in self.items]


def sentence_region_links(region: Entity, sentence: SentenceProgrammes, clause: list[int], rel: str) -> list[Relation]:
    """A region with no programme in its clause: the nearest programme ending before it in the
    sentence, else every programme of the first later clause that has one; within REGION_REACH."""
    programmes = sentence.items
    # ends rise with starts where programmes do not overlap (the tagger's never do); where gold
    # ones nest, bisection still finds a programme ending before the region, if not the nearest
    k = bisect.bisect_right(sentence.ends, region.start)
    if k and region.start - programmes[k - 1].end <= REGION_REACH:
        return [Relation(programmes[k - 1].id, region.id, rel, 0.3)]
    j = bisect.bisect_left(sentence.starts, region.end)
    out: list[Relation] = []
    for p in programmes[j:]:
        if p.start - region.end > REGION_REACH or clause[p.start] != clause[programmes[j].start]:
            break
        out.append(Relation(p.id, region.id, rel, 0.3))
    return out


def find_relations(text: str, entities: list[Entity], schema: Schema) -> list[Relation]:
    sent = sentence_index(text)
    clause = clause_index(text)
    programmes = [e for e in entities if e.label == "programme"]
    by_clause, by_sentence = grouped(programmes, clause), grouped(programmes, sent)
    regions_by_clause = grouped([e for e in entities if e.label == "region"], clause)
    out = respectively_pairs(text, entities, sent, schema)
    paired = {r.tail for r in out}
    sentences: dict[int, SentenceProgrammes] = {}
    for e in entities:
        if e.label == "programme" or e.id in paired:
            continue
        rel = schema.relation_for("programme", e.label)
        if rel is None:
            continue
        in_clause = by_clause.get(clause[e.start], [])
        if e.label == "region":
            if in_clause:
                p = min(in_clause, key=lambda p: abs(p.start - e.start))
                out.append(Relation(p.id, e.id, rel, 0.5))
                continue
            # A list of regions in the clause right after a programme's clause, in one sentence
            # (the spec's 改革试点,大足、南岸、渝北…5个区通过 example): each region is where it runs.
            listed = regions_by_clause.get(clause[e.start], [])
            previous = [p for p in by_clause.get(clause[e.start] - 1, []) if sent[p.start] == sent[e.start]]
            if len(listed) >= 2 and previous:
                out.append(Relation(previous[-1].id, e.id, rel, 0.4))
                continue
            if sent[e.start] not in sentences:
                sentences[sent[e.start]] = SentenceProgrammes(by_sentence.get(sent[e.start], []))
            out += sentence_region_links(e, sentences[sent[e.start]], clause, rel)
            continue
        if never_linked(text, e):
            continue
        before = [p for p in in_clause if p.end <= e.start]
        if before:
            out.append(Relation(before[-1].id, e.id, rel, 0.8))
        elif in_clause:
            out.append(Relation(in_clause[0].id, e.id, rel, 0.6))
        else:
            earlier = [p for p in by_sentence.get(sent[e.start], []) if p.end <= e.start]
            if earlier:
                out.append(Relation(earlier[-1].id, e.id, rel, 0.4))
    return out
