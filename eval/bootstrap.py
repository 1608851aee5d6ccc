"""95% intervals by resampling documents, and paired differences between two systems.

Errors in a report are not independent: one document's style trips a system many times.
So the unit of resampling is the document (Efron's percentile bootstrap over documents):
draw as many documents as the corpus has, with replacement, sum their per-label counts,
recompute F1, repeat. With 5 documents there are only C(9,5) = 126 distinct resamples,
and the intervals are as wide as they should be.

Everything here reads the `per_document` counts of metrics.json ({doc: {part: {label:
[tp, fp, fn]}}}), so intervals and comparisons need no predictions, only reports.
"""
from __future__ import annotations

import numpy as np

SAMPLES = 2000
SEED = 13


def count_matrix(per_document: dict, part: str, docs: list[str], label: str | None) -> np.ndarray:
    """docs × 3 array of [tp, fp, fn]; label None sums every label (micro)."""
    rows = []
    for d in docs:
        counts = per_document[d][part]
        picked = counts.values() if label is None else [counts.get(label, [0, 0, 0])]
        rows.append(np.sum(np.array(list(picked) or [[0, 0, 0]], dtype=np.int64), axis=0))
    return np.array(rows, dtype=np.int64).reshape(len(docs), 3)


def f1_of(sums: np.ndarray) -> np.ndarray:
    """F1 = 2tp / (2tp + fp + fn) for each row of [tp, fp, fn] sums; 0 where nothing was found or said."""
    tp, fp, fn = sums[..., 0], sums[..., 1], sums[..., 2]
    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


def resample_indices(n_docs: int, samples: int = SAMPLES, seed: int = SEED) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_docs, size=(samples, n_docs))


def interval(per_document: dict, part: str, label: str | None = None, samples: int = SAMPLES,
             seed: int = SEED) -> list[float]:
    """[low, high] of the 95% percentile interval of F1 for `part` ('entities'/'relations')."""
    docs = sorted(per_document)
    if not docs:
        return [0.0, 0.0]
    m = count_matrix(per_document, part, docs, label)
    f1 = f1_of(m[resample_indices(len(docs), samples, seed)].sum(axis=1))
    return [round(float(np.percentile(f1, 2.5)), 4), round(float(np.percentile(f1, 97.5)), 4)]


def intervals(metrics: dict, samples: int = SAMPLES, seed: int = SEED) -> dict:
    """Intervals for the micro F1 and each label's F1, entities and relations."""
    per_doc = metrics["per_document"]
    out = {"method": f"percentile bootstrap over documents, {samples} resamples, seed {seed}"}
    for part in ("entities", "relations"):
        out[part] = {"micro_f1": interval(per_doc, part, None, samples, seed),
                     "per_label": {lab: interval(per_doc, part, lab, samples, seed)
                                   for lab in metrics[part]["per_label"]}}
    return out


def paired_difference(old: dict, new: dict, part: str, label: str | None = None, samples: int = SAMPLES,
                      seed: int = SEED) -> dict:
    """F1(new) − F1(old) on the same documents, with a 95% interval from resampling documents
    jointly: both systems see the same draw, so document difficulty cancels out."""
    docs = sorted(old["per_document"])
    a = count_matrix(old["per_document"], part, docs, label)
    b = count_matrix(new["per_document"], part, docs, label)
    idx = resample_indices(len(docs), samples, seed)
    diff = f1_of(b[idx].sum(axis=1)) - f1_of(a[idx].sum(axis=1))
    point = float(f1_of(b.sum(axis=0)) - f1_of(a.sum(axis=0)))
    return {"old": round(float(f1_of(a.sum(axis=0))), 4), "new": round(float(f1_of(b.sum(axis=0))), 4),
            "difference": round(point, 4),
            "interval": [round(float(np.percentile(diff, 2.5)), 4), round(float(np.percentile(diff, 97.5)), 4)]}
