"""`mzie eval compare OLD/metrics.json NEW/metrics.json`: the gate before promoting a model.

Differences are paired: both reports must score the same gold documents (matched by id,
else by the content hash of each document's text), and each
bootstrap draw resamples documents for both systems at once, so a hard document
counts against both. The new system is "worse beyond noise" when the whole 95%
interval of F1(new) − F1(old) lies below zero.
"""
from __future__ import annotations

import json
from pathlib import Path

from minzheng_ie.core.errors import InputError

from .bootstrap import SAMPLES, paired_difference


def read_metrics(path: str | Path) -> dict:
    p = Path(path)
    if p.is_dir():
        p = p / "metrics.json"
    try:
        m = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror}); give a metrics.json written by `mzie eval`") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{p}: not JSON ({exc}); give a metrics.json written by `mzie eval`") from exc
    if "per_document" not in m:
        raise InputError(f"{p}: no per-document counts; rerun `mzie eval` with this version to rewrite the report")
    return m


def by_content(m: dict) -> dict | None:
    """The report keyed by each gold document's content hash (reports written since
    per-document hashes were added), so two golds that number the same texts differently
    still compare; None when a document has no hash or two share one."""
    docs = m["per_document"].values()
    keyed = {d.get("content_hash"): d for d in docs}
    return None if None in keyed or len(keyed) != len(docs) else dict(m, per_document=keyed)


def compare(old: dict, new: dict, samples: int = SAMPLES) -> dict:
    a, b = set(old["per_document"]), set(new["per_document"])
    if a != b:
        old_c, new_c = by_content(old), by_content(new)
        if old_c is None or new_c is None or set(old_c["per_document"]) != set(new_c["per_document"]):
            raise InputError(f"the reports score different documents, by id and by text (only old: "
                             f"{sorted(a - b)[:5]}, only new: {sorted(b - a)[:5]}); evaluate both systems on "
                             f"the same gold")
        old, new, a = old_c, new_c, set(old_c["per_document"])
    out = {"documents": len(a), "samples": samples}
    for part in ("entities", "relations"):
        labels = sorted(set(old[part]["per_label"]) | set(new[part]["per_label"]))
        out[part] = {"micro": paired_difference(old, new, part, None, samples),
                     "per_label": {lab: paired_difference(old, new, part, lab, samples) for lab in labels}}
    head = out["entities"]["micro"]
    out["worse_beyond_noise"] = head["interval"][1] < 0
    out["better_beyond_noise"] = head["interval"][0] > 0
    return out


def compare_markdown(c: dict, old_name: str, new_name: str) -> str:
    lines = [f"Comparison on {c['documents']} documents: OLD {old_name} → NEW {new_name}",
             f"(paired bootstrap over documents, {c['samples']} resamples; Δ = new − old, 95% interval)", ""]
    for part in ("entities", "relations"):
        lines += [f"{part}:", f"  {'label':<14}{'old':>7}{'new':>7}{'Δ':>8}   interval"]
        rows = list(c[part]["per_label"].items()) + [("micro", c[part]["micro"])]
        for lab, d in rows:
            lo, hi = d["interval"]
            flag = "  worse" if hi < 0 else "  better" if lo > 0 else ""
            lines.append(f"  {lab:<14}{d['old']:>7.3f}{d['new']:>7.3f}{d['difference']:>+8.3f}   "
                         f"[{lo:+.3f}, {hi:+.3f}]{flag}")
        lines.append("")
    verdict = ("NEW is worse beyond noise on entity micro-F1: do not promote" if c["worse_beyond_noise"] else
               "NEW is better beyond noise on entity micro-F1" if c["better_beyond_noise"] else
               "no difference beyond noise on entity micro-F1")
    return "\n".join(lines + [verdict]) + "\n"
