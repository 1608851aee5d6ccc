"""What kind of mistake each false positive and false negative is.

After strict matching, the leftovers are paired by overlap and named:

    wrong_type      same span, other label            gold 低保 programme   · pred 低保 region
    too_long        same label, prediction ⊋ gold     gold 620元           · pred 每月620元
    too_short       same label, prediction ⊊ gold     gold 47.22亿元        · pred 47.22亿
    shifted         same label, overlapping otherwise
    type_and_span   other label and other span, overlapping
    missed          a gold entity nothing overlaps
    spurious        a prediction that overlaps no gold entity the system missed

Each error is one record (gold span or None, predicted span or None), so a boundary
error is one error, not a false positive plus a false negative. `review` in the Label
Studio loop and the HTML error page both read these records.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from minzheng_ie.core.record import Doc

from .spans import Span, entity_spans, overlaps

KINDS = ("wrong_type", "too_long", "too_short", "shifted", "type_and_span", "missed", "spurious")
NONE = "—"  # the confusion matrix's row/column for "no entity"


@dataclass(frozen=True)
class SpanError:
    doc_id: str
    kind: str
    gold: Span | None
    pred: Span | None

    @property
    def position(self) -> int:
        return (self.gold or self.pred)[0]


def kind_of(g: Span, p: Span) -> str:
    if g[:2] == p[:2]:
        return "wrong_type"
    if g[2] != p[2]:
        return "type_and_span"
    if p[0] <= g[0] and g[1] <= p[1]:
        return "too_long"
    if g[0] <= p[0] and p[1] <= g[1]:
        return "too_short"
    return "shifted"


def _closeness(g: Span, p: Span) -> tuple:
    """Sort key for the prediction that best explains a gold entity: same span, then same
    label, then the most shared characters."""
    shared = min(g[1], p[1]) - max(g[0], p[0])
    return (g[:2] != p[:2], g[2] != p[2], -shared, p)


def classify(doc_id: str, gold: list[Span], pred: list[Span]) -> list[SpanError]:
    g_left = list((Counter(gold) - Counter(pred)).elements())
    p_left = list((Counter(pred) - Counter(gold)).elements())
    out: list[SpanError] = []
    for g in sorted(g_left):
        near = sorted((p for p in p_left if overlaps(g, p)), key=lambda p: _closeness(g, p))
        if near:
            p_left.remove(near[0])
            out.append(SpanError(doc_id, kind_of(g, near[0]), g, near[0]))
        else:
            out.append(SpanError(doc_id, "missed", g, None))
    unmatched = sorted(g_left)
    for p in sorted(p_left):
        # a second prediction overlapping a missed gold entity (a split) is named against that
        # entity; one overlapping only correctly found entities is spurious
        g = next((g for g in sorted(unmatched, key=lambda g: _closeness(g, p)) if overlaps(g, p)), None)
        out.append(SpanError(doc_id, kind_of(g, p) if g else "spurious", g, p))
    return sorted(out, key=lambda e: (e.position, KINDS.index(e.kind)))


def errors(pairs: list[tuple[Doc, Doc]]) -> list[SpanError]:
    return [e for g, p in pairs for e in classify(g.id, entity_spans(g), entity_spans(p))]


def confusion(pairs: list[tuple[Doc, Doc]]) -> Counter:
    """(gold label, predicted label) counts, pairing each gold entity with the prediction that
    best overlaps it; NONE stands for a missed entity (column) or a spurious one (row)."""
    out: Counter = Counter()
    for gd, pd in pairs:
        preds = entity_spans(pd)
        used = [False] * len(preds)
        for g in sorted(entity_spans(gd)):
            near = sorted((i for i, p in enumerate(preds) if not used[i] and overlaps(g, p)),
                          key=lambda i: _closeness(g, preds[i]))
            if near:
                used[near[0]] = True
                out[(g[2], preds[near[0]][2])] += 1
            else:
                out[(g[2], NONE)] += 1
        for p, u in zip(preds, used):
            if not u and not any(overlaps(g, p) for g in entity_spans(gd)):
                out[(NONE, p[2])] += 1
    return out


def summary(errs: list[SpanError], labels: tuple[str, ...] = ()) -> dict:
    by_kind = Counter(e.kind for e in errs)
    by_label: dict[str, Counter] = {lab: Counter() for lab in labels}
    for e in errs:
        by_label.setdefault((e.gold or e.pred)[2], Counter())[e.kind] += 1
    return {"by_kind": {k: by_kind.get(k, 0) for k in KINDS},
            "by_label": {lab: {k: c.get(k, 0) for k in KINDS} for lab, c in sorted(by_label.items())}}
