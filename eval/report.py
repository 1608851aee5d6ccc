"""A report folder: metrics.json, report.md, errors.html and PNG plots.

errors.html shows every entity error and every missed or spurious relation in its
sentence context, gold spans and predicted spans highlighted in two colours (and a
third where they coincide), grouped by error kind. It is static HTML with no script,
so it opens anywhere, including in a headless browser in the tests.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from minzheng_ie.core.record import Doc, write_text_atomic

from .errors import KINDS, NONE, SpanError
from .spans import Span, relation_keys

CONTEXT = 40  # characters shown either side of an error
KIND_TEXT = {
    "wrong_type": "Wrong type (same span)", "too_long": "Too long", "too_short": "Too short", "shifted": "Shifted",
    "type_and_span": "Wrong type and span", "missed": "Missed (false negative)", "spurious": "Spurious (false positive)",
    "relation_missed": "Relations missed", "relation_spurious": "Relations spurious",
}


def _fmt_ci(ci: list[float] | None) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""


def markdown(m: dict, title: str) -> str:
    e, r = m["entities"], m["relations"]
    lines = [f"# {title}", "", f"System: {m.get('system', '?')}. Gold: `{m.get('gold', '?')}`, {m['documents']} "
             f"documents. 95% intervals: {m['bootstrap']}.", ""]
    how = m.get("matching")
    if how:
        lines += [f"Predictions matched by document id: {how['by_id']}; by text (content hash), under another "
                  f"id: {how['by_content']}.", ""]
    if m["missing_predictions"]:
        lines += [f"No prediction for: {', '.join(m['missing_predictions'])} (counted as all missed).", ""]
    if m["unmatched_predictions"]:
        lines += [f"Predictions for documents not in the gold (ignored): {', '.join(m['unmatched_predictions'])}.", ""]
    lines += ["## Headline", "", "| | P | R | F1 | 95% interval |", "|---|---:|---:|---:|---|"]
    for name, sec in (("entities (strict)", e), ("relations (end to end)", r)):
        mi = sec["micro"]
        lines.append(f"| {name} | {mi['precision']:.3f} | {mi['recall']:.3f} | **{mi['f1']:.3f}** | "
                     f"{_fmt_ci(sec['ci95']['micro_f1'])} |")
    given = r.get("given_gold_entities")
    if given:
        mi = given["micro"]
        lines.append(f"| relations given gold entities | {mi['precision']:.3f} | {mi['recall']:.3f} | "
                     f"{mi['f1']:.3f} | |")
    for part, sec in (("Entities (strict)", e), ("Relations (end to end)", r)):
        lines += ["", f"## {part}", "", "| label | P | R | F1 | 95% interval | support |",
                  "|---|---:|---:|---:|---|---:|"]
        for lab, s in sec["per_label"].items():
            lines.append(f"| {lab} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | "
                         f"{_fmt_ci(sec['ci95']['per_label'].get(lab))} | {s['support']} |")
        mi = sec["micro"]
        lines += [f"| **micro** | {mi['precision']:.3f} | {mi['recall']:.3f} | **{mi['f1']:.3f}** | "
                  f"{_fmt_ci(sec['ci95']['micro_f1'])} | {mi['support']} |", f"| macro F1 | | | {sec['macro_f1']:.3f} | | |"]
    if given:
        lines += ["", "## Relations given gold entities", "", "| label | P | R | F1 | support |", "|---|---:|---:|---:|---:|"]
        for lab, s in given["per_label"].items():
            lines.append(f"| {lab} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |")
    lines += ["", "## Entity match views", "",
              "strict: same span and label · exact: same span · type: overlap, same label · partial: overlap", "",
              "| view | P | R | F1 |", "|---|---:|---:|---:|"]
    for view, s in e["views"].items():
        lines.append(f"| {view} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} |")
    lines += ["", "## Entity errors by kind ([errors.html](errors.html) shows each in context)", "",
              "| label | " + " | ".join(KINDS) + " |", "|---|" + "---:|" * len(KINDS)]
    for lab, kinds in m["errors"]["by_label"].items():
        lines.append(f"| {lab} | " + " | ".join(str(kinds[k]) for k in KINDS) + " |")
    lines.append("| **all** | " + " | ".join(f"**{m['errors']['by_kind'][k]}**" for k in KINDS) + " |")
    sq = m["seqeval"]
    lines += ["", "## Cross-check", "",
              f"seqeval ({sq['mode']} {sq['scheme']}, per {sq['unit']}): P {sq['micro']['precision']:.3f}, "
              f"R {sq['micro']['recall']:.3f}, F1 {sq['micro']['f1']:.3f} — "
              + ("agrees with the span scorer" if sq["agrees"] else "**disagrees with the span scorer**")
              + (f"; {sq['dropped_overlapping_predictions']} overlapping or duplicated predictions cannot be written "
                 f"in BIO and were left out of both for this check" if sq["dropped_overlapping_predictions"] else "")
              + "."]
    v = m["values"]
    lines += ["", "## Normalised values", ""]
    if v["available"]:
        lines.append(f"Of {v['compared']} strictly matched entities with a gold value, {v['equal']} have an equal "
                     f"predicted value ({v['accuracy']:.3f}): " + ", ".join(
                         f"{lab} {s['equal']}/{s['compared']}" for lab, s in v["per_label"].items()) + ".")
    else:
        lines.append(v["note"] + ".")
    lines += ["", "## Plots", "", "![F1 by label](f1_by_label.png)", "", "![Confusion](confusion.png)", "",
              "![Precision and recall against score threshold](threshold.png)", ""]
    if m.get("command"):
        lines += [f"Produced by `{m['command']}`."]
    return "\n".join(lines) + "\n"


def _highlight(text: str, a: int, b: int, gold: list[Span], pred: list[Span]) -> str:
    """text[a:b] as HTML with gold and predicted spans marked, label tags after each span."""
    def cls(i: int) -> str:
        g = any(s[0] <= i < s[1] for s in gold)
        p = any(s[0] <= i < s[1] for s in pred)
        return "both" if g and p else "gold" if g else "pred" if p else ""

    out, i = [], a
    while i < b:
        c, j = cls(i), i
        while j < b and cls(j) == c:
            j += 1
        piece = html.escape(text[i:j])
        out.append(f'<mark class="{c}">{piece}</mark>' if c else piece)
        i = j
    return "".join(out)


def _item(doc: Doc, gold: list[Span], pred: list[Span], caption: str) -> str:
    spans = gold + pred
    a = max(0, min(s[0] for s in spans) - CONTEXT)
    b = min(len(doc.text), max(s[1] for s in spans) + CONTEXT)
    ctx = _highlight(doc.text, a, b, gold, pred).replace("\n", "⏎")
    return (f'<li><div class="cap">{caption}</div><div class="ctx">{"…" if a else ""}{ctx}'
            f'{"…" if b < len(doc.text) else ""}</div></li>')


def _show(doc: Doc, s: Span | None, who: str) -> str:
    if s is None:
        return f'<span class="none">{who}: nothing</span>'
    return (f'<span class="{who}-t">{who}: <b>{html.escape(doc.text[s[0]:s[1]])}</b> {s[2]} '
            f'[{s[0]}:{s[1]}]</span>')


def errors_html(title: str, errs: list[SpanError], pairs: list[tuple[Doc, Doc]]) -> str:
    docs = {g.id: g for g, _ in pairs}
    groups: dict[str, list[str]] = {k: [] for k in list(KINDS) + ["relation_missed", "relation_spurious"]}
    for e in errs:
        d = docs[e.doc_id]
        cap = f'<span class="doc">{html.escape(e.doc_id)}</span> {_show(d, e.gold, "gold")} · {_show(d, e.pred, "pred")}'
        groups[e.kind].append(_item(d, [e.gold] if e.gold else [], [e.pred] if e.pred else [], cap))
    for g, p in pairs:
        gk, pk = relation_keys(g), relation_keys(p)
        for kind, keys, other, who in (("relation_missed", gk, pk, "gold"), ("relation_spurious", pk, gk, "pred")):
            for h, t, lab in sorted(set(keys) - set(other)):
                cap = (f'<span class="doc">{html.escape(g.id)}</span> <span class="{who}-t">{who}: '
                       f'<b>{html.escape(g.text[h[0]:h[1]])}</b> —{lab}→ <b>{html.escape(g.text[t[0]:t[1]])}</b></span>')
                groups[kind].append(_item(g, [h, t] if who == "gold" else [], [h, t] if who == "pred" else [], cap))
    body = [f"<h1>{html.escape(title)}</h1>",
            '<p class="legend"><mark class="gold">gold only</mark> <mark class="pred">predicted only</mark> '
            '<mark class="both">both</mark></p>', "<nav>" + " · ".join(
                f'<a href="#{k}">{KIND_TEXT[k]} ({len(v)})</a>' for k, v in groups.items()) + "</nav>"]
    for k, items in groups.items():
        body.append(f'<section id="{k}" data-kind="{k}"><h2>{KIND_TEXT[k]} ({len(items)})</h2><ol>'
                    + "".join(items) + "</ol></section>")
    style = ("body{font-family:sans-serif;max-width:70em;margin:auto;line-height:1.6}"
             "mark.gold{background:#b7e4c7}mark.pred{background:#ffc9a9}mark.both{background:#cdb4db}"
             ".ctx{font-size:1.1em}.cap{color:#444;font-size:.9em}.doc{font-family:monospace;color:#888}"
             ".gold-t b{color:#1b7a3d}.pred-t b{color:#c2561a}li{margin:.6em 0}")
    return (f'<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{style}</style></head><body>" + "\n".join(body) + "</body></html>\n")


def plots(m: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(m["entities"]["per_label"])
    f1 = [m["entities"]["per_label"][lab]["f1"] for lab in labels]
    ci = [m["entities"]["ci95"]["per_label"][lab] for lab in labels]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(labels, f1, yerr=[[v - c[0] for v, c in zip(f1, ci)], [c[1] - v for v, c in zip(f1, ci)]],
           capsize=4, color="#4c72b0")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("strict F1 (95% interval)")
    ax.set_title("Entity F1 by label")
    fig.tight_layout()
    fig.savefig(out / "f1_by_label.png", dpi=110)
    plt.close(fig)

    axis = labels + [NONE]
    grid = [[0] * len(axis) for _ in axis]
    for c in m["confusion"]:
        if c["gold"] in axis and c["predicted"] in axis:
            grid[axis.index(c["gold"])][axis.index(c["predicted"])] = c["count"]
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.imshow(grid, cmap="Blues")
    ax.set_xticks(range(len(axis)), [a if a != NONE else "(none)" for a in axis], rotation=30)
    ax.set_yticks(range(len(axis)), [a if a != NONE else "(none)" for a in axis])
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    peak = max(max(row) for row in grid) or 1
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", color="white" if v > peak / 2 else "black", fontsize=8)
    ax.set_title("Label confusion (overlapping spans)")
    fig.tight_layout()
    fig.savefig(out / "confusion.png", dpi=110)
    plt.close(fig)

    curve = m["threshold_curve"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in ("precision", "recall", "f1"):
        ax.plot([c["threshold"] for c in curve], [c[key] for c in curve], marker=".", label=key)
    ax.set_xlabel("score threshold")
    ax.set_ylim(0, 1.05)
    ax.set_title("Strict entity P/R/F1 against score threshold")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "threshold.png", dpi=110)
    plt.close(fig)


def write_report(out: Path, m: dict, title: str, errs: list[SpanError], pairs: list[tuple[Doc, Doc]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "metrics.json", json.dumps(m, ensure_ascii=False, indent=2) + "\n")
    write_text_atomic(out / "report.md", markdown(m, title))
    write_text_atomic(out / "errors.html", errors_html(title, errs, pairs))
    plots(m, out)
