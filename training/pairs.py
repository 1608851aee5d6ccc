"""Relation candidates: the pairs the relation head scores, for training and prediction alike.

A candidate is (programme, other) in one sentence, where `other` is an entity type some
relation accepts as tail for a programme head (amount, count, standard, region). The
schema gives exactly one relation per (head type, tail type), so the head only decides
*whether* a candidate is linked; the label follows from the types.

Distances are bucketed on a log scale, signed (tail after head is positive), so 3 and 4
characters apart look alike and 3 and 300 do not.
"""
from __future__ import annotations

from dataclasses import dataclass

from minzheng_ie.core.record import Doc, Entity
from minzheng_ie.core.schema import Schema
from minzheng_ie.core.spec import sentence_index

DISTANCE_EDGES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)  # bucket k: distance < EDGES[k]
N_DISTANCE_BUCKETS = 2 * (len(DISTANCE_EDGES) + 1) + 1


def distance_bucket(head: Entity, tail: Entity) -> int:
    """0 for touching/overlapping, then 1..n after the head and n+1..2n before it."""
    if tail.start >= head.end:
        d, side = tail.start - head.end, 0
    elif head.start >= tail.end:
        d, side = head.start - tail.end, 1
    else:
        return 0
    k = next((i for i, edge in enumerate(DISTANCE_EDGES) if d < edge), len(DISTANCE_EDGES))
    return 1 + k + side * (len(DISTANCE_EDGES) + 1)


@dataclass(frozen=True)
class Candidate:
    head: Entity
    tail: Entity
    relation: str  # the label a link would carry
    bucket: int
    types: tuple[int, int]  # head and tail label positions in the schema's entity labels


def candidates(doc: Doc, schema: Schema, entities: list[Entity] | None = None) -> list[Candidate]:
    ents = doc.entities if entities is None else entities
    sent = sentence_index(doc.text)
    type_index = {lab: i for i, lab in enumerate(schema.entity_labels)}
    out = []
    for h in ents:
        for t in ents:
            if h is t or sent[h.start] != sent[t.start]:
                continue
            rel = schema.relation_for(h.label, t.label)
            if rel is not None:
                out.append(Candidate(h, t, rel, distance_bucket(h, t), (type_index[h.label], type_index[t.label])))
    return out


def in_window(cands: list[Candidate], char_of_token: list[int | None]) -> list[tuple[int, list[int]]]:
    """(index into `cands`, token positions [head start, head end, tail start, tail end]) for every
    candidate whose four edge characters all have a token in this window. Training and
    prediction both place pairs with this, so they cannot disagree on positions."""
    token_of = {c: t for t, c in enumerate(char_of_token) if c is not None}
    out = []
    for k, c in enumerate(cands):
        toks = [token_of.get(c.head.start), token_of.get(c.head.end - 1),
                token_of.get(c.tail.start), token_of.get(c.tail.end - 1)]
        if None not in toks:
            out.append((k, toks))
    return out


def gold_links(doc: Doc) -> set[tuple[str, str, str]]:
    return {(r.head, r.tail, r.label) for r in doc.relations}
