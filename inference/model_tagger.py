"""A trained model directory behind the `Tagger` interface (Doc → Doc), like the rule tagger."""
from __future__ import annotations

from pathlib import Path

from minzheng_ie.annotation.record import Doc


class ModelTagger:
    def __init__(self, path: str | Path):
        from minzheng_ie.training.persist import load_model

        self.path = Path(path)
        self.model, self.tokenizer, self.schema, self.info, self.settings = load_model(self.path)
        self.id2label = dict(enumerate(self.info["bio_labels"]))
        git = (self.info.get("git") or "")[:12]
        self.model_version = f"{self.path.name}@{git}" if git else self.path.name

    def __call__(self, doc: Doc) -> Doc:
        from minzheng_ie.annotation.furniture import drop_furniture
        from minzheng_ie.annotation.normalize import normalise_doc
        from minzheng_ie.annotation.rules.meta import document_fields
        from minzheng_ie.training.predict import predict_doc

        out = predict_doc(self.model, self.tokenizer, Doc(doc.id, doc.text, meta=doc.meta), self.schema,
                          self.id2label, self.settings)
        drop_furniture(out)  # page furniture (打印 收藏, 扫一扫…) is never tagged
        document_fields(out)
        return normalise_doc(out)

    def link(self, doc: Doc) -> Doc:
        """Relations between the entities already in `doc` (evaluation given gold entities)."""
        from minzheng_ie.training.predict import predict_doc

        return predict_doc(self.model, self.tokenizer, doc, self.schema, self.id2label, self.settings,
                           entities=doc.entities)
