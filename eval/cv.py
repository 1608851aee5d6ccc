"""`mzie eval cv`: leave-one-document-out (or k-fold by document) training and scoring.

For every variant and every fold, the held-out documents are never seen in training:
the remaining documents are split again into train and dev (dev drives early
stopping), a model is trained, and the held-out documents are tagged. Predictions of
all folds are pooled and scored against the gold once, so every table cell is one
micro-average over the whole corpus.

A fold's predictions are written as soon as it finishes, and a rerun skips folds that
already have them: a long run can be stopped and resumed.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from minzheng_ie.core.config import apply_overrides, from_dict, read_yaml, to_dict
from minzheng_ie.core.errors import InputError
from minzheng_ie.core.record import Doc, Meta, read_jsonl, write_jsonl

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    name: str
    system: str = "model"  # "model" (trained per fold), "rules", or "fixed" (`model` as it is, no training)
    overrides: tuple[str, ...] = ()  # dotted overrides of the training config
    model: str | None = None  # for "fixed": a model folder that has never seen the gold


@dataclass(frozen=True)
class CVConfig:
    train_config: str  # the training recipe every model variant starts from
    data: str  # gold export or JSONL
    output_dir: str
    folds: int | None = None  # None: leave one document out
    overrides: tuple[str, ...] = ()  # applied to every model variant
    keep_models: bool = False
    variants: tuple[Variant, ...] = field(default_factory=lambda: (Variant("rules", "rules"), Variant("model")))


def fold_ids(ids: list[str], folds: int | None) -> list[list[str]]:
    ordered = sorted(ids)
    if folds is None or folds >= len(ordered):
        return [[i] for i in ordered]
    if folds < 2:
        raise InputError(f"folds: {folds}; use at least 2, or leave it out for leave-one-document-out")
    return [ordered[k::folds] for k in range(folds)]


def variant_train_config(cfg: CVConfig, variant: Variant, fold_dir: Path):
    """The training config of one fold of a trained variant: configs/train.yaml (`train_config`)
    with the table's and the variant's overrides, on the fold's documents."""
    from minzheng_ie.training.train import TrainConfig

    data = apply_overrides(read_yaml(cfg.train_config), list(cfg.overrides) + list(variant.overrides))
    data.update(data=str(fold_dir / "train_dev.jsonl"), output_dir=str(fold_dir / "model"), dev=None)
    return from_dict(TrainConfig, data, f"{cfg.train_config} ({variant.name})")


def check_variants(cfg: CVConfig, folds: list[list[str]], out: Path, schema) -> None:
    """Every variant with a fold still to train, checked before the first fold runs: a config that
    `train` would refuse (configs/train.yaml moved on under an old variant) fails now, naming the
    variant, rather than after the earlier variants' hours."""
    from minzheng_ie.training.train import check_train_config

    for variant in cfg.variants:
        if variant.system in ("rules", "fixed"):
            continue
        if all((out / variant.name / f"fold-{k}" / "predictions.jsonl").exists() for k in range(len(folds))):
            continue  # every fold is reused; nothing of it trains
        try:
            check_train_config(variant_train_config(cfg, variant, out / variant.name / "fold-0"), schema)
        except InputError as exc:
            raise InputError(f"variant {variant.name!r}: {exc} (in its overrides or the table's)") from exc


def run_variant(cfg: CVConfig, variant: Variant, gold: list[Doc], folds: list[list[str]], out: Path) -> list[Doc]:
    from minzheng_ie.inference.tag import load_tagger
    from minzheng_ie.training.report import write_json
    from minzheng_ie.training.train import train

    preds: list[Doc] = []
    for k, held_out in enumerate(folds):
        fold_dir = out / variant.name / f"fold-{k}"
        done = fold_dir / "predictions.jsonl"
        if done.exists():
            preds += list(read_jsonl(done))
            log.info("%s fold %d: reusing %s", variant.name, k, done)
            continue
        test = [d for d in gold if d.id in held_out]
        if variant.system in ("rules", "fixed"):
            if variant.system == "fixed" and not variant.model:
                raise InputError(f"variant {variant.name}: system fixed needs model: FOLDER")
            tagger = load_tagger("rules" if variant.system == "rules" else variant.model)
            fold_preds = [tagger(Doc(d.id, d.text, meta=Meta())) for d in test]
        else:
            rest = [d for d in gold if d.id not in held_out]
            copy = fold_dir / "train_dev.jsonl"  # a copy of gold, only needed while training
            write_jsonl(rest, copy)
            tcfg = variant_train_config(cfg, variant, fold_dir)
            started = time.monotonic()
            try:
                info = train(tcfg)
            finally:  # a failed fold leaves no stray copy of the gold beside its logs
                copy.unlink(missing_ok=True)
            tagger = load_tagger(str(fold_dir / "model"))
            fold_preds = [tagger(Doc(d.id, d.text, meta=Meta())) for d in test]
            minutes = (time.monotonic() - started) / 60
            log.info("%s fold %d (%s): trained %.1f min, best epoch %d", variant.name, k, ",".join(held_out),
                     minutes, info["best_epoch"])
            write_json(fold_dir / "fold.json", {"held_out": held_out, "training_minutes": round(minutes, 2),
                                                "best_epoch": info["best_epoch"], "dev": info["data"]["dev"]})
            if not cfg.keep_models:
                shutil.rmtree(fold_dir / "model", ignore_errors=True)
        write_jsonl(fold_preds, done)
        preds += fold_preds
    return preds


def cross_validate(cfg: CVConfig) -> dict:
    from minzheng_ie.annotation.convert import load_docs
    from minzheng_ie.core.schema import load_schema
    from minzheng_ie.training.report import write_json

    from .spans import score

    schema = load_schema()
    gold = load_docs(cfg.data)
    folds = fold_ids([d.id for d in gold], cfg.folds)
    out = Path(cfg.output_dir)
    check_variants(cfg, folds, out, schema)
    results = {}
    for variant in cfg.variants:
        started = time.monotonic()
        preds = run_variant(cfg, variant, gold, folds, out)
        results[variant.name] = score(gold, preds, schema.entity_labels, schema.relation_labels)
        results[variant.name]["overrides"] = list(variant.overrides)
        results[variant.name]["minutes"] = round((time.monotonic() - started) / 60, 1)
        # what training the variant's folds took when they were trained, reused or not
        fold_files = [out / variant.name / f"fold-{k}" / "fold.json" for k in range(len(folds))]
        if all(f.exists() for f in fold_files):
            results[variant.name]["training_minutes"] = round(
                sum(json.loads(f.read_text(encoding="utf-8"))["training_minutes"] for f in fold_files), 1)
    summary = {"config": to_dict(cfg), "folds": folds, "results": results}
    write_json(out / "cv.json", summary)
    (out / "cv.md").write_text(cv_markdown(summary, schema.entity_labels), encoding="utf-8")
    return summary


def cv_markdown(summary: dict, labels: tuple[str, ...]) -> str:
    cfg, folds = summary["config"], summary["folds"]
    how = "leave one document out" if all(len(f) == 1 for f in folds) else f"{len(folds)}-fold by document"
    lines = [f"# Cross-validation on {cfg['data']} ({how}, {len(folds)} folds)", "",
             "Strict spans; predictions of all folds pooled, then micro-averaged. Relations end to end "
             "(both entities predicted and matched).", "",
             "| variant | " + " | ".join(f"{lab} F1" for lab in labels) + " | entity P | entity R | **entity F1** | "
             "relation P | relation R | **relation F1** |",
             "|---|" + "---:|" * (len(labels) + 6)]
    for name, m in summary["results"].items():
        e, r = m["entities"]["micro"], m["relations"]["micro"]
        per = " | ".join(f"{m['entities']['per_label'][lab]['f1']:.3f}" for lab in labels)
        lines.append(f"| {name} | {per} | {e['precision']:.3f} | {e['recall']:.3f} | **{e['f1']:.3f}** | "
                     f"{r['precision']:.3f} | {r['recall']:.3f} | **{r['f1']:.3f}** |")
    lines += ["", "Variants (overrides of " + f"`{cfg['train_config']}`"
              + (f"; every trained variant also takes {', '.join(f'`{o}`' for o in cfg['overrides'])}"
                 if cfg["overrides"] else "") + "):", ""]
    for v in cfg["variants"]:
        what = ("the rule pre-annotator" if v["system"] == "rules" else
                f"`{v['model']}` as it is, never trained on gold" if v["system"] == "fixed" else
                ", ".join(f"`{o}`" for o in v["overrides"]) or "the recipe as it is")
        lines.append(f"- **{v['name']}**: {what}")
    lines += ["", "Wall minutes spent by the run that wrote this table (0: every fold was reused from an earlier "
              "run; each trained fold's time is in its fold.json): "
              + ", ".join(f"{n} {m['minutes']}" for n, m in summary["results"].items()), "",
              "Minutes the trained variants' folds took to train and tag, summed from their fold.json: "
              + ", ".join(f"{n} {m['training_minutes']}" for n, m in summary["results"].items()
                          if "training_minutes" in m),
              "", f"Produced by `mzie eval cv --config …` with output_dir `{cfg['output_dir']}`."]
    return "\n".join(lines) + "\n"
