"""Training examples: codec windows with their relation candidates, as a `datasets.Dataset`.

Each window carries token ids, BIO label ids (from the codec), the candidate pairs whose
four edge characters all have a token in the window, a 0/1 label per pair, and a weight
(1 for gold, less for silver), and, for models with rule hints, the rule tagger's tag ids;
for models with bigram vectors, each token's two bigram ids.
Negatives are sampled: all positives are kept, and at
most `negative_ratio` × positives (at least `min_negatives`) of the unlinked pairs.
"""
from __future__ import annotations

import random
from typing import Iterable

from minzheng_ie.core.record import Doc
from minzheng_ie.core.schema import Schema

from .codec import IGNORE, encode_doc
from .pairs import candidates, gold_links, in_window


def window_features(doc: Doc, tokenizer, label2id: dict[str, int], schema: Schema, *, max_length: int,
                    stride: int, negative_ratio: float, min_negatives: int, rng: random.Random,
                    weight: float = 1.0, hint_entities: list | None = None,
                    bigram_index: dict[str, int] | None = None) -> list[dict]:
    links = gold_links(doc)
    cands = candidates(doc, schema)
    inside = {i for lab, i in label2id.items() if lab.startswith("I-")}
    feats = []
    for w in encode_doc(doc, tokenizer, label2id, max_length=max_length, stride=stride,
                        hint_entities=hint_entities, bigram_index=bigram_index):
        pos, neg = [], []
        for k, toks in in_window(cands, w.char_of_token):
            c = cands[k]
            item = (toks, list(c.types), c.bucket)
            (pos if (c.head.id, c.tail.id, c.relation) in links else neg).append(item)
        keep = max(min_negatives, int(negative_ratio * len(pos)))
        if negative_ratio >= 0 and len(neg) > keep:
            neg = rng.sample(neg, keep)
        pairs = [(p, 1) for p in pos] + [(n, 0) for n in neg]
        feats.append({
            "input_ids": w.input_ids, "attention_mask": w.attention_mask,
            "labels": unlabel_entity_at_start(w.labels, inside),
            "pair_tokens": [p[0] for p, _ in pairs], "pair_types": [p[1] for p, _ in pairs],
            "pair_distance": [p[2] for p, _ in pairs], "pair_labels": [lab for _, lab in pairs],
            "weight": weight,
        })
        if w.hints is not None:
            feats[-1]["hints"] = w.hints
        if w.bigrams is not None:
            feats[-1]["bigrams"] = w.bigrams
    return feats


def unlabel_entity_at_start(labels: list[int], inside: set[int]) -> list[int]:
    """A window that begins inside an entity (its first labelled token tagged I-x, one of
    `inside`) with that entity's tokens unlabelled (IGNORE): the window before it holds the
    entity's start and labels them. Labelled, they would be a path no CRF can score — a tag
    sequence may not start with I- — whose loss of ~10,000 pulls I-x up at every window start
    (7% of training windows did, at 256 tokens with a 64-token stride)."""
    out = list(labels)
    for t, lab in enumerate(out):
        if lab == IGNORE:
            continue
        if lab not in inside:
            break
        out[t] = IGNORE
    return out


def build_dataset(docs: Iterable[tuple[Doc, float]], tokenizer, label2id, schema, *, max_length: int,
                  stride: int, negative_ratio: float, min_negatives: int, seed: int, hinter=None,
                  bigram_index: dict[str, int] | None = None):
    """`hinter`: Doc → hint entities (the rule tagger's), for models with rule hints;
    `bigram_index`: bigram → id, for models with bigram vectors."""
    import datasets

    rng = random.Random(seed)
    rows = []
    for doc, weight in docs:
        rows += window_features(doc, tokenizer, label2id, schema, max_length=max_length, stride=stride,
                                negative_ratio=negative_ratio, min_negatives=min_negatives, rng=rng,
                                weight=weight, hint_entities=None if hinter is None else hinter(doc),
                                bigram_index=bigram_index)
    return datasets.Dataset.from_list(rows)


def collate(pad_id: int):
    """Pads windows to the longest in the batch and pairs to the most pairs (-1 marks padding)."""
    import torch

    def fn(batch: list[dict]) -> dict:
        t = max(len(b["input_ids"]) for b in batch)
        p = max(len(b["pair_labels"]) for b in batch)

        def pad(seq, n, value):
            return list(seq) + [value] * (n - len(seq))

        out = {
            "input_ids": torch.tensor([pad(b["input_ids"], t, pad_id) for b in batch]),
            "attention_mask": torch.tensor([pad(b["attention_mask"], t, 0) for b in batch]),
            "labels": torch.tensor([pad(b["labels"], t, IGNORE) for b in batch]),
            "pair_tokens": torch.tensor([pad(b["pair_tokens"], p, [0, 0, 0, 0]) for b in batch],
                                        dtype=torch.long).reshape(len(batch), p, 4),
            "pair_types": torch.tensor([pad(b["pair_types"], p, [0, 0]) for b in batch],
                                       dtype=torch.long).reshape(len(batch), p, 2),
            "pair_distance": torch.tensor([pad(b["pair_distance"], p, 0) for b in batch], dtype=torch.long),
            "pair_labels": torch.tensor([pad(b["pair_labels"], p, -1) for b in batch], dtype=torch.long),
            "weight": torch.tensor([float(b["weight"]) for b in batch]),
        }
        if "hints" in batch[0]:
            out["hints"] = torch.tensor([pad(b["hints"], t, 0) for b in batch])
        if "bigrams" in batch[0]:
            out["bigrams"] = torch.tensor([pad(b["bigrams"], t, [0, 0]) for b in batch], dtype=torch.long)
        return out

    return fn
