"""The project's span scorer: strict entity and end-to-end relation P/R/F1.

Strict: an entity counts when start, end and label all match a gold entity; a relation
counts when its label and both ends' spans and labels match a gold relation. Matching
is on sets, so a duplicate prediction is one prediction.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from minzheng_ie.annotation.record import Doc


@dataclass
class PRF:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4),
                "tp": self.tp, "fp": self.fp, "fn": self.fn, "support": self.tp + self.fn}


def entity_set(doc: Doc) -> set[tuple[int, int, str]]:
    return {e.span for e in doc.entities}


def relation_set(doc: Doc) -> set[tuple]:
    by_id = doc.entity_by_id()
    return {(by_id[r.head].span, by_id[r.tail].span, r.label) for r in doc.relations
            if r.head in by_id and r.tail in by_id}


def _score(gold: list[set], pred: list[set], label_of) -> tuple[dict[str, PRF], PRF]:
    per: dict[str, PRF] = {}
    total = PRF()
    for g, p in zip(gold, pred):
        for item in g | p:
            s = per.setdefault(label_of(item), PRF())
            if item in g and item in p:
                s.tp += 1; total.tp += 1
            elif item in p:
                s.fp += 1; total.fp += 1
            else:
                s.fn += 1; total.fn += 1
    return per, total


def score(gold_docs: list[Doc], pred_docs: list[Doc], entity_labels: tuple[str, ...] = (),
          relation_labels: tuple[str, ...] = ()) -> dict:
    """Scores of predictions against gold, matched by document id. A gold document with
    no prediction counts as all missed and is listed; predictions for unknown documents are listed."""
    pred_by_id = {d.id: d for d in pred_docs}
    missing = [g.id for g in gold_docs if g.id not in pred_by_id]
    gold_ids = {g.id for g in gold_docs}
    extra = [p.id for p in pred_docs if p.id not in gold_ids]
    pairs = [(g, pred_by_id.get(g.id, Doc(g.id, g.text))) for g in gold_docs]
    ent_per, ent_total = _score([entity_set(g) for g, _ in pairs], [entity_set(p) for _, p in pairs], lambda x: x[2])
    rel_per, rel_total = _score([relation_set(g) for g, _ in pairs], [relation_set(p) for _, p in pairs],
                                lambda x: x[2])
    for lab in entity_labels:
        ent_per.setdefault(lab, PRF())
    for lab in relation_labels:
        rel_per.setdefault(lab, PRF())

    def macro(per: dict[str, PRF]) -> float:
        vals = [s.f1 for s in per.values()]
        return round(sum(vals) / len(vals), 4) if vals else 0.0

    return {
        "documents": len(gold_docs),
        "missing_predictions": missing,
        "unmatched_predictions": extra,
        "entities": {"micro": ent_total.as_dict(), "macro_f1": macro(ent_per),
                     "per_label": {k: v.as_dict() for k, v in sorted(ent_per.items())}},
        "relations": {"micro": rel_total.as_dict(), "macro_f1": macro(rel_per),
                      "per_label": {k: v.as_dict() for k, v in sorted(rel_per.items())}},
        "gold_counts": dict(Counter(e.label for g in gold_docs for e in g.entities)),
    }


def metrics_markdown(m: dict, title: str) -> str:
    lines = [f"# {title}", "", f"{m['documents']} gold documents."]
    if m["missing_predictions"]:
        lines.append(f"No prediction for: {', '.join(m['missing_predictions'])} (counted as all missed).")
    for part in ("entities", "relations"):
        sec = m[part]
        lines += ["", f"## {part.capitalize()} (strict)", "", "| label | P | R | F1 | support |", "|---|---:|---:|---:|---:|"]
        for lab, s in sec["per_label"].items():
            lines.append(f"| {lab} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |")
        mi = sec["micro"]
        lines.append(f"| **micro** | {mi['precision']:.3f} | {mi['recall']:.3f} | {mi['f1']:.3f} | {mi['support']} |")
        lines.append(f"| macro F1 | | | {sec['macro_f1']:.3f} | |")
    return "\n".join(lines) + "\n"
