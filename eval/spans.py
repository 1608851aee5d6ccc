"""The project's span scorer: entity and end-to-end relation P/R/F1.

Views of an entity match (the names follow the MUC/SemEval tradition):
- strict:  same start, end and label — the headline;
- exact:   same start and end, any label;
- type:    overlapping spans, same label;
- partial: overlapping spans, any label.

Matching is one-to-one: a gold entity is matched by at most one prediction, so a
duplicated prediction is one true positive and one false positive (a system that says
everything twice must not look better than one that says it once). Relations count end
to end: the label and both ends' spans and labels must match a gold relation.

Counts are kept per document and label (`per_document`), so intervals (bootstrap.py)
and model comparison (compare.py) can resample documents from metrics.json alone.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable

from minzheng_ie.core.errors import InputError
from minzheng_ie.core.record import Doc, content_hash

log = logging.getLogger(__name__)

Span = tuple[int, int, str]  # start, end (exclusive), label
VIEWS = ("strict", "exact", "type", "partial")


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
        # 2PR/(P+R) = 2tp/(2tp+fp+fn); 0 when there is nothing to find and nothing predicted
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0

    def add(self, tp: int = 0, fp: int = 0, fn: int = 0) -> None:
        self.tp += tp
        self.fp += fp
        self.fn += fn

    def as_dict(self) -> dict:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4),
                "tp": self.tp, "fp": self.fp, "fn": self.fn, "support": self.tp + self.fn}


def entity_spans(doc: Doc) -> list[Span]:
    return [e.span for e in doc.entities]


def relation_keys(doc: Doc) -> list[tuple[Span, Span, str]]:
    by_id = doc.entity_by_id()
    return [(by_id[r.head].span, by_id[r.tail].span, r.label) for r in doc.relations
            if r.head in by_id and r.tail in by_id]


def overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _same(view: str) -> Callable[[Span, Span], bool]:
    return {"strict": lambda g, p: g == p,
            "exact": lambda g, p: g[:2] == p[:2],
            "type": lambda g, p: g[2] == p[2] and overlaps(g, p),
            "partial": overlaps}[view]


def match(gold: list, pred: list, same: Callable) -> tuple[list[int | None], list[bool]]:
    """One-to-one matching: for each prediction (in order) the index of the gold item it
    matches, or None; and for each gold item whether it was matched. Exact matches are
    taken first, so a loose view never steals a gold item from an exact prediction."""
    pred_to_gold: list[int | None] = [None] * len(pred)
    used = [False] * len(gold)
    for exact_pass in (True, False):
        for i, p in enumerate(pred):
            if pred_to_gold[i] is not None:
                continue
            for j, g in enumerate(gold):
                if not used[j] and (g == p if exact_pass else same(g, p)):
                    pred_to_gold[i], used[j] = j, True
                    break
    return pred_to_gold, used


def count(gold: list, pred: list, label_of: Callable, same: Callable | None = None) -> dict[str, list[int]]:
    """label → [tp, fp, fn] for one document; `same` None means equality (the strict view).
    A true positive is booked under the gold label."""
    out: dict[str, list[int]] = {}
    if same is None:  # equality: one-to-one matching is a multiset intersection
        g, p = Counter(gold), Counter(pred)
        for item in g | p:
            tp = min(g[item], p[item])
            c = out.setdefault(label_of(item), [0, 0, 0])
            c[0] += tp; c[1] += p[item] - tp; c[2] += g[item] - tp
        return out
    pred_to_gold, used = match(gold, pred, same)
    for p, j in zip(pred, pred_to_gold):
        out.setdefault(label_of(p if j is None else gold[j]), [0, 0, 0])[0 if j is not None else 1] += 1
    for g, u in zip(gold, used):
        if not u:
            out.setdefault(label_of(g), [0, 0, 0])[2] += 1
    return out


def totals(per_doc: list[dict[str, list[int]]], labels: tuple[str, ...] = ()) -> tuple[dict[str, PRF], PRF]:
    per = {lab: PRF() for lab in labels}
    total = PRF()
    for counts in per_doc:
        for lab, (tp, fp, fn) in counts.items():
            per.setdefault(lab, PRF()).add(tp, fp, fn)
            total.add(tp, fp, fn)
    return per, total


def section(per_doc: list[dict[str, list[int]]], labels: tuple[str, ...]) -> dict:
    per, total = totals(per_doc, labels)
    vals = [s.f1 for s in per.values()]
    return {"micro": total.as_dict(), "macro_f1": round(sum(vals) / len(vals), 4) if vals else 0.0,
            "per_label": {k: v.as_dict() for k, v in sorted(per.items())}}


@dataclass
class Pairing:
    """Gold documents paired with their predictions, and how each pair was found."""
    pairs: list[tuple[Doc, Doc]]  # every gold document, with an empty prediction when none matched
    missing: list[str]            # gold ids without a prediction (counted as all missed)
    extra: list[str]              # prediction ids that matched no gold document
    by_id: int = 0
    by_content: int = 0

    def summary(self) -> dict:
        return {"by_id": self.by_id, "by_content": self.by_content, "unmatched_gold": self.missing,
                "unmatched_predictions": self.extra}


def pair_docs(gold_docs: list[Doc], pred_docs: list[Doc]) -> Pairing:
    """(gold, prediction) pairs: by document id where the texts agree, else by content hash of
    the text (a Label Studio export numbers its tasks 1, 2, 3 … while `mzie tag` names them by
    file), else by id alone with a warning — offsets are then compared across different texts.
    Raises InputError when gold documents exist and not one of them finds a prediction."""
    by_id = {d.id: d for d in pred_docs}
    by_hash = {content_hash(d.text): d for d in pred_docs}
    used: set[int] = set()  # id() of the predictions already paired, so none is paired twice
    found: dict[str, tuple[Doc, str]] = {}
    for step in ("id", "content", "id-only"):
        for g in gold_docs:
            if g.id in found:
                continue
            p = by_hash.get(content_hash(g.text)) if step == "content" else by_id.get(g.id)
            if p is None or id(p) in used or (step == "id" and p.text != g.text):
                continue
            if step == "id-only":
                log.warning("gold %s and the prediction with its id hold different texts; scored by id anyway", g.id)
            found[g.id] = (p, step)
            used.add(id(p))
    if gold_docs and not found:
        raise InputError(
            f"no prediction matches a gold document, by id or by text (gold ids {_some(d.id for d in gold_docs)}; "
            f"prediction ids {_some(d.id for d in pred_docs)}); tag the gold's own texts (they must be identical, "
            f"character for character) or give each prediction the gold's doc_id")
    steps = [s for _, s in found.values()]
    return Pairing([(g, found[g.id][0] if g.id in found else Doc(g.id, g.text)) for g in gold_docs],
                   [g.id for g in gold_docs if g.id not in found],
                   [p.id for p in pred_docs if id(p) not in used],
                   by_id=len(steps) - steps.count("content"), by_content=steps.count("content"))


def _some(ids: Iterable[str], n: int = 5) -> str:
    ids = list(ids)
    return ", ".join(ids[:n]) + (f" … ({len(ids)} in all)" if len(ids) > n else "")


def score(gold_docs: list[Doc], pred_docs: list[Doc], entity_labels: tuple[str, ...] = (),
          relation_labels: tuple[str, ...] = (), pairing: Pairing | None = None) -> dict:
    """Scores of predictions against gold, matched as `pair_docs` says. A gold document with
    no prediction counts as all missed and is listed; predictions for unknown documents are listed."""
    pairing = pairing or pair_docs(gold_docs, pred_docs)
    pairs = pairing.pairs
    label = lambda x: x[2]  # noqa: E731 — the label is the third field of spans and relation keys
    ent_docs = [count(entity_spans(g), entity_spans(p), label) for g, p in pairs]
    rel_docs = [count(relation_keys(g), relation_keys(p), label) for g, p in pairs]
    views = {}
    for view in VIEWS:
        per_doc = ent_docs if view == "strict" else [
            count(entity_spans(g), entity_spans(p), label, _same(view)) for g, p in pairs]
        views[view] = totals(per_doc)[1].as_dict()
    entities = section(ent_docs, entity_labels)
    entities["views"] = views
    return {
        "documents": len(gold_docs),
        "missing_predictions": pairing.missing,
        "unmatched_predictions": pairing.extra,
        "matching": pairing.summary(),
        "entities": entities,
        "relations": section(rel_docs, relation_labels),
        "gold_counts": dict(Counter(e.label for g in gold_docs for e in g.entities)),
        "per_document": {g.id: {"entities": e, "relations": r, "content_hash": content_hash(g.text)}
                         for (g, _), e, r in zip(pairs, ent_docs, rel_docs)},
    }


def metrics_markdown(m: dict, title: str) -> str:
    """The strict tables; report.py adds intervals, views and error analysis around them."""
    lines = [f"# {title}", "", f"{m['documents']} gold documents."]
    how = m.get("matching")
    if how:
        lines.append(f"Predictions matched by id: {how['by_id']}, by text (content hash): {how['by_content']}.")
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
