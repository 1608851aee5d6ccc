"""A trained model directory behind the `Tagger` interface (Doc → Doc), like the rule tagger.

Long documents are cut at sentence ends into segments of at most SEGMENT_CHARS and
tagged segment by segment, so memory stays flat in document length: a 5 MB report
holds one segment's windows and hidden states at a time, never the whole document's.
Nothing is lost at a cut: entities never contain a sentence end, and relations link
mentions of one sentence (the spec's rule, and the only candidates the head scores).

`tag_batch` tags several documents together so short ones share batches of windows.

Runtimes (bench/RESULTS.md has the measurements behind the choice):
- torch: the model as trained, fp32 — the default;
- int8: dynamic int8 quantisation of the linear layers — faster, but a few entities change;
- onnx: the encoder exported to ONNX and run by ONNX Runtime (the `onnx` extra), the
  heads and decoding unchanged — identical entities, but not faster than torch on the
  2-core machine it was measured on.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from minzheng_ie.core import spec
from minzheng_ie.core.errors import InputError
from minzheng_ie.core.record import Doc, Entity, Relation

log = logging.getLogger(__name__)

# 8,000 characters ≈ 42 windows of 256 tokens (stride 64): hidden states of 42 × 256 × 256
# floats ≈ 11 MB for the small encoder, 32 MB for a base-size one.
SEGMENT_CHARS = 8000
# cut only where the spec ends a sentence: relation candidates are paired within those sentences
SENTENCE_END = re.compile("[" + re.escape(spec.SENTENCE_END) + "]")


def segments(text: str, limit: int = SEGMENT_CHARS) -> list[tuple[int, int]]:
    """Half-open (start, end) pieces covering `text`, each ≤ limit, cut after a sentence end
    where there is one (a sentence longer than `limit` is cut where it must be)."""
    out, start = [], 0
    while len(text) - start > limit:
        cut = max((m.end() for m in SENTENCE_END.finditer(text, start, start + limit)), default=start + limit)
        out.append((start, cut))
        start = cut
    out.append((start, len(text)))
    return out


def shifted(doc: Doc, offset: int, prefix: str) -> tuple[list[Entity], list[Relation]]:
    """A segment's entities and relations in the whole document's offsets, with ids unique in it."""
    ids = {e.id: f"{prefix}{e.id}" for e in doc.entities}
    ents = [Entity(e.start + offset, e.end + offset, e.label, e.text, ids[e.id], e.score, e.value)
            for e in doc.entities]
    rels = [Relation(ids[r.head], ids[r.tail], r.label, r.score) for r in doc.relations]
    return ents, rels


def onnx_encoder(model):
    """(ids, mask, hints, bigrams) → (token logits, hidden states) through ONNX Runtime: the model's
    encoder is exported once, to a temporary file, when the tagger loads (a few seconds). A model
    with rule hints or bigram vectors takes their ids as further inputs of the graph (all "none"
    when not given: hints O, bigrams 0)."""
    import os
    import tempfile

    import torch

    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise InputError("--runtime onnx needs ONNX Runtime: pip install 'minzheng-ie[onnx]' "
                         "(or use --runtime torch)") from exc

    with_hints, with_bigrams = model.hints is not None, model.bigrams is not None

    class Encode(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, ids, mask, *extra):
            hints = extra[0] if with_hints else None
            bigrams = extra[-1] if with_bigrams else None
            return self.inner.encode(ids, mask, hints, bigrams)

    fd, path = tempfile.mkstemp(suffix=".onnx")
    os.close(fd)
    try:
        ids = torch.ones(2, 16, dtype=torch.long)
        axes = {0: "batch", 1: "tokens"}
        args = ((ids, torch.ones_like(ids)) + ((torch.ones_like(ids),) if with_hints else ())
                + ((torch.ones(2, 16, 2, dtype=torch.long),) if with_bigrams else ()))
        names = ["ids", "mask"] + (["hints"] if with_hints else []) + (["bigrams"] if with_bigrams else [])
        # the TorchScript exporter: no extra packages, and the BERT graph exports cleanly
        # exported in eval mode (no dropout); the exporter puts the wrapper's mode back afterwards,
        # and a new module starts in training mode, which would switch the model's dropout on
        torch.onnx.export(Encode(model).eval(), args, path, input_names=names,
                          output_names=["logits", "hidden"], dynamo=False,
                          dynamic_axes={**{n: axes for n in names}, "logits": axes, "hidden": axes})
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    finally:
        os.unlink(path)  # the session holds the graph in memory

    def encode(ids, mask, hints=None, bigrams=None):
        feed = {"ids": ids.numpy(), "mask": mask.numpy()}
        if with_hints:
            feed["hints"] = (hints if hints is not None else torch.zeros_like(ids)).numpy()
        if with_bigrams:
            feed["bigrams"] = (bigrams if bigrams is not None else torch.zeros(*ids.shape, 2, dtype=torch.long)).numpy()
        logits, hidden = session.run(None, feed)
        return torch.from_numpy(logits), torch.from_numpy(hidden)

    return encode


RUNTIMES = ("torch", "onnx", "int8")


def model_version(path: str | Path, runtime: str = "torch") -> str:
    """What the tagger stamps on each record: the folder's name, the commit that trained it, and
    the runtime unless torch. A missing or incomplete folder, or an unknown runtime, fails here."""
    import json

    from minzheng_ie.training.persist import check_model_dir

    if runtime not in RUNTIMES:
        raise InputError(f"--runtime {runtime!r}: choose torch, onnx or int8")
    p = check_model_dir(path)
    git = (json.loads((p / "minzheng.json").read_text(encoding="utf-8")).get("git") or "")[:12]
    return (f"{p.name}@{git}" if git else p.name) + ("" if runtime == "torch" else f"+{runtime}")


class ModelTagger:
    def __init__(self, path: str | Path, segment_chars: int = SEGMENT_CHARS, batch_chars: int = 32_000,
                 runtime: str = "torch"):
        from minzheng_ie.training.persist import load_model

        self.path = Path(path)
        self.model, self.tokenizer, self.schema, self.info, self.settings = load_model(self.path)
        self.id2label = dict(enumerate(self.info["bio_labels"]))
        self.model_version = model_version(self.path, runtime)
        self.segment_chars = segment_chars
        self.batch_chars = batch_chars  # characters predicted together by tag_batch
        self.encoder = None  # None: the torch model's own encode
        self.hinter = None  # for models trained with rule hints: the rule tagger's entities, per document
        if self.model.hints is not None:
            from minzheng_ie.training.hints import rule_hinter

            self.hinter = rule_hinter()
        if runtime == "int8":
            import torch

            self.model = torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)
        elif runtime == "onnx":
            self.encoder = onnx_encoder(self.model)

    def __call__(self, doc: Doc) -> Doc:
        return self.tag_batch([doc])[0]

    def tag_batch(self, docs: list[Doc]) -> list[Doc]:
        """Tagged copies of `docs`, in order. Segments of all documents are predicted in groups
        of about `batch_chars` characters."""
        from minzheng_ie.annotation.furniture import drop_furniture
        from minzheng_ie.annotation.normalize import normalise_doc
        from minzheng_ie.annotation.rules.meta import document_fields
        from minzheng_ie.training.hints import within
        from minzheng_ie.training.predict import predict_docs

        pieces = [(i, a, b) for i, d in enumerate(docs) for a, b in segments(d.text, self.segment_chars)]
        outs = [Doc(d.id, d.text, meta=d.meta) for d in docs]
        # hints come from the whole document (the rules read document-wide context), then are cut per segment
        hints = [self.hinter(d) for d in docs] if self.hinter else None
        group: list[tuple[int, int, int]] = []

        def flush() -> None:
            preds = predict_docs(self.model, self.tokenizer, [Doc(f"{docs[i].id}#{a}", docs[i].text[a:b])
                                                             for i, a, b in group],
                                 self.schema, self.id2label, self.settings, encoder=self.encoder,
                                 hints=[within(hints[i], a, b) for i, a, b in group] if hints else None)
            for (i, a, _), p in zip(group, preds):
                ents, rels = shifted(p, a, f"s{a}-" if a else "")
                outs[i].entities += ents
                outs[i].relations += rels
            group.clear()

        size = 0
        for piece in pieces:
            group.append(piece)
            size += piece[2] - piece[1]
            if size >= self.batch_chars:
                flush()
                size = 0
        if group:
            flush()
        for out in outs:
            drop_furniture(out)  # page furniture (打印 收藏, 扫一扫…) is never tagged
            document_fields(out)
            normalise_doc(out)
        return outs

    def link(self, doc: Doc) -> Doc:
        """Relations between the entities already in `doc` (evaluation given gold entities)."""
        from minzheng_ie.training.predict import predict_doc

        return predict_doc(self.model, self.tokenizer, doc, self.schema, self.id2label, self.settings,
                           entities=doc.entities, hints=self.hinter(doc) if self.hinter else None)
