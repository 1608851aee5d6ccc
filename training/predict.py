"""End-to-end prediction with an in-memory model: entities from the BIO head, then relations
scored on candidates built from the *predicted* entities. Used by training (dev scores)
and by the tagger (inference/model_tagger.py), so both decode identically."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from minzheng_ie.annotation.record import Doc, Entity, Relation
from minzheng_ie.annotation.schema import Schema

from .codec import decode_probabilities, encode
from .model import JointModel
from .pairs import candidates, in_window


@dataclass(frozen=True)
class DecodeSettings:
    max_length: int = 256
    stride: int = 64
    batch_size: int = 16
    relation_threshold: float = 0.5


@torch.inference_mode()
def predict_doc(model: JointModel, tokenizer, doc: Doc, schema: Schema, id2label: dict[int, str],
                settings: DecodeSettings = DecodeSettings(), entities: list[Entity] | None = None) -> Doc:
    """Entities and relations for `doc.text`; with `entities` given, only relations are
    predicted, between those entities (relation scores given gold entities)."""
    model.eval()
    text = doc.text
    out = Doc(doc.id, text, meta=doc.meta)
    windows = encode(text, tokenizer, max_length=settings.max_length, stride=settings.stride)
    if not windows:
        return out
    pad = tokenizer.pad_token_id
    token_logits, hiddens = [], []  # per window: label logits per token, last hidden states
    for i in range(0, len(windows), settings.batch_size):
        chunk = windows[i:i + settings.batch_size]
        t = max(len(w.input_ids) for w in chunk)
        ids = torch.tensor([w.input_ids + [pad] * (t - len(w.input_ids)) for w in chunk])
        mask = torch.tensor([w.attention_mask + [0] * (t - len(w.attention_mask)) for w in chunk])
        logits, hidden = model.encode(ids, mask)
        token_logits += logits.tolist()
        hiddens += list(hidden)
    out.entities = (decode_probabilities(text, windows, token_logits, id2label, crf=model.crf) if entities is None
                    else [Entity(e.start, e.end, e.label, e.text, e.id) for e in entities])
    cands = candidates(out, schema)
    if not cands:
        return out
    # each candidate is scored in the window where its tokens sit farthest from an edge
    best: dict[int, tuple[int, int, list[int]]] = {}
    for w_i, w in enumerate(windows):
        length = sum(w.attention_mask)
        for k, toks in in_window(cands, w.char_of_token):
            margin = min(min(toks), length - 1 - max(toks))
            if k not in best or margin > best[k][0]:
                best[k] = (margin, w_i, toks)
    by_window: dict[int, list[int]] = {}
    for k, (_, w_i, _) in best.items():
        by_window.setdefault(w_i, []).append(k)
    for w_i, ks in by_window.items():
        toks = torch.tensor([best[k][2] for k in ks]).unsqueeze(0)
        types = torch.tensor([list(cands[k].types) for k in ks]).unsqueeze(0)
        dist = torch.tensor([cands[k].bucket for k in ks]).unsqueeze(0)
        probs = model.relation_head(hiddens[w_i].unsqueeze(0), toks, types, dist).sigmoid()[0].tolist()
        for k, p in zip(ks, probs):
            if p >= settings.relation_threshold:
                c = cands[k]
                out.relations.append(Relation(c.head.id, c.tail.id, c.relation, p))
    order = {e.id: i for i, e in enumerate(sorted(out.entities, key=lambda e: e.span))}
    out.relations.sort(key=lambda r: (order[r.head], order[r.tail]))
    return out
