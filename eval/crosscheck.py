"""seqeval in strict IOB2 mode, computed from the same documents, as a check on our span scorer.

Both views score exact (start, end, label) spans, so on documents BIO can represent
they must agree to the last count. BIO cannot represent overlapping or duplicated
predictions: those are dropped before seqeval sees them (longest first), and the
report says how many, so a disagreement is always explained.
"""
from __future__ import annotations

from minzheng_ie.core.record import Doc, Entity
from minzheng_ie.training.codec import doc_to_char_tags


def representable(doc: Doc) -> tuple[Doc, int]:
    """The doc with overlapping entities dropped (longer spans kept), and how many were dropped."""
    kept: list[Entity] = []
    for e in sorted(doc.entities, key=lambda e: (-(e.end - e.start), e.start)):
        if not any(e.start < k.end and k.start < e.end for k in kept):
            kept.append(e)
    return Doc(doc.id, doc.text, entities=sorted(kept, key=lambda e: e.start)), len(doc.entities) - len(kept)


def seqeval_scores(pairs: list[tuple[Doc, Doc]]) -> dict:
    """seqeval's strict IOB2 scores, and whether they equal the project scorer's on the same
    (representable) predictions."""
    import warnings

    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    from .spans import count, entity_spans, totals

    y_true, y_pred, dropped, ours = [], [], 0, []
    for g, p in pairs:
        p_ok, n = representable(p)
        dropped += n
        y_true.append(doc_to_char_tags(g))
        y_pred.append(doc_to_char_tags(p_ok))
        ours.append(count(entity_spans(g), entity_spans(p_ok), lambda x: x[2]))
    with warnings.catch_warnings():  # seqeval's macro average of zero labels warns about an empty mean
        warnings.simplefilter("ignore", RuntimeWarning)
        report = classification_report(y_true, y_pred, mode="strict", scheme=IOB2, output_dict=True,
                                       zero_division=0)
    micro = report.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0})
    out = {"mode": "strict", "scheme": "IOB2", "unit": "character",
           "micro": {"precision": round(float(micro["precision"]), 4), "recall": round(float(micro["recall"]), 4),
                     "f1": round(float(micro["f1-score"]), 4)},
           "per_label_f1": {k: round(float(v["f1-score"]), 4) for k, v in report.items()
                            if k not in ("micro avg", "macro avg", "weighted avg")},
           "dropped_overlapping_predictions": dropped}
    mine = totals(ours)[1].as_dict()
    out["agrees"] = all(abs(out["micro"][k] - mine[k]) < 1e-3 for k in ("precision", "recall", "f1"))
    return out
