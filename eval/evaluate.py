"""Everything `mzie eval` measures, as one metrics dict with stable keys (metrics.json).

    metrics = evaluate(gold_docs, pred_docs, schema, linker=tagger.link)

Keys: documents, missing_predictions, unmatched_predictions, matching (how many by id, by text), entities (micro, macro_f1,
per_label, views, ci95), relations (micro, macro_f1, per_label, ci95, given_gold_entities),
errors (by_kind, by_label), confusion, seqeval, values, threshold_curve, gold_counts,
per_document. `format` is bumped when a key changes meaning.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Callable

from minzheng_ie.core.record import Doc, Entity
from minzheng_ie.core.schema import Schema

from . import bootstrap
from .crosscheck import seqeval_scores
from .errors import confusion, errors, summary
from .spans import Pairing, count, pair_docs, relation_keys, score, section, totals

log = logging.getLogger(__name__)

FORMAT = 1
FIGURES = ("amount", "count", "standard", "region")  # the labels that carry a normalised value
VALUE_KEYS = ("type", "yuan", "number", "unit", "per", "period", "qualifier", "min", "max", "name", "level", "code")


def attach_gold_values(gold_docs: list[Doc], path: str) -> int:
    """Set `value` on gold entities from a JSONL of {doc, start, end, label, value} lines (the
    gold corpus's values.jsonl); every line must name an existing gold entity. Returns how many."""
    import json

    from minzheng_ie.core.errors import InputError

    known = {(d.id, e.start, e.end, e.label) for d in gold_docs for e in d.entities}
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as exc:
        raise InputError(f"--gold-values {path}: cannot read ({exc.strerror})") from exc
    values: dict[tuple, dict] = {}
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            key = (row["doc"], row["start"], row["end"], row["label"])
            values[key] = row["value"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{path}:{lineno}: not a value line ({exc}); each line needs doc, start, end, label, "
                             f"value") from exc
        if key not in known:
            raise InputError(f"{path}:{lineno}: no gold {key[3]} at {key[0]} [{key[1]}:{key[2]}]; the values file "
                             f"does not belong to this gold, or the gold changed since it was made")
    for d in gold_docs:
        d.entities = [replace(e, value=values.get((d.id, e.start, e.end, e.label), e.value)) for e in d.entities]
    return len(values)


def relations_given_gold(gold_docs: list[Doc], linker: Callable[[Doc], Doc], labels: tuple[str, ...]) -> dict:
    """Relation scores when the system is handed the gold entities: the relation step alone."""
    per_doc = []
    for g in gold_docs:
        given = Doc(g.id, g.text, entities=[Entity(e.start, e.end, e.label, e.text, e.id) for e in g.entities])
        per_doc.append(count(relation_keys(g), relation_keys(linker(given)), lambda x: x[2]))
    return section(per_doc, labels)


def value_agreement(pairs: list[tuple[Doc, Doc]]) -> dict:
    """For strictly matched figures whose gold carries a normalised value: the share whose
    predicted value agrees on number, unit, per-unit, period, qualifier and range."""
    per: dict[str, list[int]] = {}  # label → [compared, equal]
    for g, p in pairs:
        pred_by_span = {e.span: e for e in p.entities}
        for e in g.entities:
            if e.label in FIGURES and e.value is not None and e.span in pred_by_span:
                c = per.setdefault(e.label, [0, 0])
                c[0] += 1
                pv = pred_by_span[e.span].value or {}
                c[1] += all(e.value.get(k) == pv.get(k) for k in VALUE_KEYS)
    if not per:
        return {"available": False, "note": "no matched figure has a gold value; values are scored once the gold "
                                            "carries them"}
    compared, equal = sum(c[0] for c in per.values()), sum(c[1] for c in per.values())
    return {"available": True, "compared": compared, "equal": equal, "accuracy": round(equal / compared, 4),
            "per_label": {lab: {"compared": c[0], "equal": c[1], "accuracy": round(c[1] / c[0], 4)}
                          for lab, c in sorted(per.items())}}


def threshold_curve(pairs: list[tuple[Doc, Doc]], steps: int = 20) -> list[dict]:
    """Strict entity P/R/F1 keeping only predictions scored ≥ t, for t = 0, 1/steps, …, 1.
    A prediction without a score counts as certain (1.0)."""
    curve = []
    for k in range(steps + 1):
        t = k / steps
        per_doc = [count([e.span for e in g.entities],
                         [e.span for e in p.entities if (1.0 if e.score is None else e.score) >= t], lambda x: x[2])
                   for g, p in pairs]
        s = totals(per_doc)[1]
        curve.append({"threshold": round(t, 4), "precision": round(s.precision, 4), "recall": round(s.recall, 4),
                      "f1": round(s.f1, 4), "kept": s.tp + s.fp})
    return curve


def evaluate(gold_docs: list[Doc], pred_docs: list[Doc], schema: Schema,
             linker: Callable[[Doc], Doc] | None = None, samples: int = bootstrap.SAMPLES,
             pairing: Pairing | None = None) -> dict:
    pairing = pairing or pair_docs(gold_docs, pred_docs)
    m = score(gold_docs, pred_docs, schema.entity_labels, schema.relation_labels, pairing)
    pairs = pairing.pairs
    cis = bootstrap.intervals(m, samples)
    m["format"] = FORMAT
    m["entities"]["ci95"] = cis["entities"]
    m["relations"]["ci95"] = cis["relations"]
    m["bootstrap"] = cis["method"]
    m["relations"]["given_gold_entities"] = (relations_given_gold(gold_docs, linker, schema.relation_labels)
                                             if linker else None)
    errs = errors(pairs)
    m["errors"] = summary(errs, schema.entity_labels)
    m["confusion"] = [{"gold": g, "predicted": p, "count": n} for (g, p), n in sorted(confusion(pairs).items())]
    m["seqeval"] = seqeval_scores(pairs)
    if not m["seqeval"]["agrees"]:
        log.warning("seqeval and the span scorer disagree: %s", m["seqeval"]["micro"])
    m["values"] = value_agreement(pairs)
    m["threshold_curve"] = threshold_curve(pairs)
    return m
