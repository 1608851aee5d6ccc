"""End-to-end prediction with an in-memory model: entities from the BIO head, then relations
scored on candidates built from the *predicted* entities. Used by training (dev scores)
and by the tagger (inference/model_tagger.py), so both decode identically."""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from minzheng_ie.core.record import Doc, Entity, Relation
from minzheng_ie.core.schema import Schema

from .codec import decode, decode_probabilities, encode, entity_char_tags
from .model import JointModel
from .pairs import candidates, in_window


@dataclass(frozen=True)
class DecodeSettings:
    max_length: int = 256
    # tokens shared by consecutive windows: 256/32 feeds 1.15 tokens per character against 1.34
    # for 256/64, with the same entity F1 on held-out gold (bench/OVERLAP.md)
    stride: int = 32
    batch_size: int = 16
    relation_threshold: float = 0.5
    decoder: str = "viterbi"  # or "argmax": per-token argmax, as a plain token classifier (pipelines) decodes
    relations: bool = True  # False: entities only
    linker: str = "head"  # relations from the relation head, or "rules": the rule tagger's relation finder
    # entity labels taken from the rule hints instead of the entity head (a model trained with hints):
    # each label from whichever of the two scores better on dev, e.g. names from the rules
    # (lexicon and patterns) and figures from the model (models/README.md)
    rule_labels: tuple[str, ...] = ()


@torch.inference_mode()
def predict_doc(model: JointModel, tokenizer, doc: Doc, schema: Schema, id2label: dict[int, str],
                settings: DecodeSettings = DecodeSettings(), entities: list[Entity] | None = None,
                hints: list[Entity] | None = None) -> Doc:
    """Entities and relations for `doc.text`; with `entities` given, only relations are
    predicted, between those entities (relation scores given gold entities)."""
    return predict_docs(model, tokenizer, [doc], schema, id2label, settings,
                        None if entities is None else [entities], hints=None if hints is None else [hints])[0]


@torch.inference_mode()
def predict_docs(model: JointModel, tokenizer, docs: list[Doc], schema: Schema, id2label: dict[int, str],
                 settings: DecodeSettings = DecodeSettings(), entities: list[list[Entity]] | None = None,
                 encoder=None, hints: list[list[Entity]] | None = None) -> list[Doc]:
    """`predict_doc` for several documents at once: the windows of all of them are sorted by
    length and batched together, so short documents share batches instead of each padding
    its own. Memory grows with the total text given: callers pass bounded groups.
    `encoder` replaces `model.encode` ((ids, mask, hints, bigrams) → (token logits, hidden states)), e.g. an
    ONNX Runtime session; the heads and decoding stay the same.
    `hints`: per document, the rule tagger's entities, for a model trained with rule hints
    (training/hints.py); without them such a model reads the tokens alone."""
    model.eval()
    label2id = {lab: i for i, lab in id2label.items()}
    use_hints = hints is not None and model.hints is not None
    bigram_index = model.bigrams.index if model.bigrams is not None else None
    windows = [encode(d.text, tokenizer, max_length=settings.max_length, stride=settings.stride,
                      label2id=label2id, hint_tags=entity_char_tags(d.text, hints[i]) if use_hints else None,
                      bigram_index=bigram_index)
               for i, d in enumerate(docs)]
    flat = [(i, k) for i, ws in enumerate(windows) for k in range(len(ws))]
    flat.sort(key=lambda ik: len(windows[ik[0]][ik[1]].input_ids))
    logits: dict[tuple[int, int], list] = {}
    hiddens: dict[tuple[int, int], torch.Tensor] = {}
    pad = tokenizer.pad_token_id
    for b in range(0, len(flat), settings.batch_size):
        chunk = flat[b:b + settings.batch_size]
        ws = [windows[i][k] for i, k in chunk]
        t = max(len(w.input_ids) for w in ws)
        ids = torch.tensor([w.input_ids + [pad] * (t - len(w.input_ids)) for w in ws])
        mask = torch.tensor([w.attention_mask + [0] * (t - len(w.attention_mask)) for w in ws])
        hint_ids = torch.tensor([w.hints + [0] * (t - len(w.hints)) for w in ws]) if use_hints else None
        bigram_ids = (torch.tensor([w.bigrams + [[0, 0]] * (t - len(w.bigrams)) for w in ws], dtype=torch.long)
                      if bigram_index is not None else None)
        out_logits, out_hidden = (encoder or model.encode)(ids, mask, hint_ids, bigram_ids)
        if settings.decoder == "argmax":  # ids straight away: no per-token Python over the logits
            out_logits = out_logits.argmax(-1)
        for j, ik in enumerate(chunk):
            n = len(windows[ik[0]][ik[1]].input_ids)  # padding is cut off again
            # label ids (argmax) as a list; logits stay an array for the numpy decoder
            logits[ik] = out_logits[j, :n].tolist() if settings.decoder == "argmax" else out_logits[j, :n].numpy()
            hiddens[ik] = out_hidden[j, :n]
    outs = []
    for i, doc in enumerate(docs):
        out = Doc(doc.id, doc.text, meta=doc.meta)
        if windows[i]:
            doc_logits = [logits[(i, k)] for k in range(len(windows[i]))]
            if entities is not None:
                out.entities = [Entity(e.start, e.end, e.label, e.text, e.id) for e in entities[i]]
            elif settings.decoder == "argmax":
                out.entities = decode(doc.text, windows[i], doc_logits, id2label)  # label ids, see above
            else:
                out.entities = decode_probabilities(doc.text, windows[i], doc_logits, id2label, crf=model.crf)
            if entities is None and settings.rule_labels and use_hints:
                out.entities = with_rule_labels(out.entities, hints[i], settings.rule_labels)
            if settings.relations and settings.linker == "rules":
                from minzheng_ie.annotation.rules.relations import find_relations

                out.relations = find_relations(doc.text, out.entities, schema)
            elif settings.relations:
                out.relations = _relations(model, out, windows[i],
                                           [hiddens[(i, k)] for k in range(len(windows[i]))], schema, settings)
        outs.append(out)
    return outs


def with_rule_labels(predicted: list[Entity], hinted: list[Entity], labels) -> list[Entity]:
    """The rules' entities of `labels`, and the model's entities of the other labels where they
    overlap none of those; ids T1, T2 … in text order, as the decoder numbers them
    (codec.spans_to_entities)."""
    import bisect

    labels = set(labels)
    ruled = sorted((e for e in hinted if e.label in labels), key=lambda e: (e.start, e.end))
    ends = [r.end for r in ruled]  # the rules' entities never overlap: ends rise with starts

    def free(e: Entity) -> bool:  # the first ruled span ending after e starts must start after e ends
        k = bisect.bisect_right(ends, e.start)
        return k == len(ruled) or ruled[k].start >= e.end

    kept = [e for e in predicted if e.label not in labels and free(e)]
    merged = sorted(ruled + kept, key=lambda e: (e.start, e.end))
    return [replace(e, id=f"T{k}") for k, e in enumerate(merged, 1)]  # every other field as it came


def _relations(model: JointModel, out: Doc, windows, hiddens: list[torch.Tensor], schema: Schema,
               settings: DecodeSettings) -> list[Relation]:
    cands = candidates(out, schema)
    if not cands:
        return []
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
    relations = []
    for w_i, ks in by_window.items():
        toks = torch.tensor([best[k][2] for k in ks]).unsqueeze(0)
        types = torch.tensor([list(cands[k].types) for k in ks]).unsqueeze(0)
        dist = torch.tensor([cands[k].bucket for k in ks]).unsqueeze(0)
        probs = model.relation_head(hiddens[w_i].unsqueeze(0), toks, types, dist).sigmoid()[0].tolist()
        for k, p in zip(ks, probs):
            if p >= settings.relation_threshold:
                c = cands[k]
                relations.append(Relation(c.head.id, c.tail.id, c.relation, p))
    order = {e.id: i for i, e in enumerate(sorted(out.entities, key=lambda e: e.span))}
    relations.sort(key=lambda r: (order[r.head], order[r.tail]))
    return relations
