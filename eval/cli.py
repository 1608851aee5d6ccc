"""`mzie eval`: score predictions against gold."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from minzheng_ie.core.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score predictions (or a tagger) against gold: strict entity and relation P/R/F1; "
                                    "`mzie eval cv --config …` cross-validates")
    p.add_argument("--gold", "--data", dest="gold", help="gold Label Studio export or records JSONL")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--predictions", help="predicted records JSONL or Label Studio export")
    src.add_argument("--model", help="tagger to run on the gold texts: 'rules' or a model folder")
    p.add_argument("-o", "--out", help="report folder: metrics.json, report.md, errors.html, PNG plots")
    p.add_argument("--gold-values", help="gold normalised values (JSONL of doc, start, end, label, value), e.g. "
                                         "annotation/data/gold/values.jsonl; enables the value scores")
    p.add_argument("--script", choices=["as-is", "traditional"], default="as-is",
                   help="traditional: score on an OpenCC traditional-script copy of the gold (same offsets), "
                        "to measure the script gap")
    p.add_argument("--title", default=None)
    p.add_argument("--samples", type=int, default=2000, help="bootstrap resamples for the 95%% intervals")
    p.set_defaults(func=cmd_eval)
    sub = p.add_subparsers(dest="eval_action", required=False, metavar="[cv|compare]")
    register_cv(sub)
    k = sub.add_parser("compare", help="per-label differences between two reports; exit 1 when NEW is worse "
                                       "beyond noise on entity micro-F1")
    k.add_argument("old", help="OLD report folder or its metrics.json")
    k.add_argument("new", help="NEW report folder or its metrics.json")
    k.add_argument("--samples", type=int, default=2000)
    k.add_argument("--json", action="store_true", help="print the comparison as JSON")
    k.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare, compare_markdown, read_metrics

    c = compare(read_metrics(args.old), read_metrics(args.new), args.samples)
    print(json.dumps(c, ensure_ascii=False, indent=2) if args.json else compare_markdown(c, args.old, args.new))
    return 1 if c["worse_beyond_noise"] else 0


def register_cv(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("cv", help="leave-one-document-out training and scoring of several variants → one table")
    c.add_argument("--config", required=True, help="cross-validation YAML, e.g. configs/cv.yaml")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    c.set_defaults(func=cmd_cv)


def cmd_cv(args: argparse.Namespace) -> int:
    from minzheng_ie.core.config import load_config

    from .cv import CVConfig, cross_validate, cv_markdown

    cfg = load_config(CVConfig, args.config, args.set)
    summary = cross_validate(cfg)
    from minzheng_ie.core.schema import load_schema

    print(cv_markdown(summary, load_schema().entity_labels))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if args.gold is None or args.out is None or (args.predictions is None and args.model is None):
        raise InputError("mzie eval needs --gold (or --data), -o and one of --predictions or --model "
                         "(or `mzie eval cv --config FILE`, `mzie eval compare OLD NEW`)")
    from minzheng_ie.annotation.convert import load_docs
    from minzheng_ie.core.record import Doc, Meta, write_jsonl
    from minzheng_ie.core.schema import load_schema
    from minzheng_ie.inference.tag import load_tagger

    from .errors import errors
    from .evaluate import attach_gold_values, evaluate
    from .report import markdown, write_report
    from .spans import pair_docs

    gold = load_docs(args.gold)
    if args.gold_values:
        attach_gold_values(gold, args.gold_values)
    if args.script == "traditional":
        from minzheng_ie.annotation.rules.script import traditional_copy

        gold = [traditional_copy(g, suffix="") for g in gold]
    out = Path(args.out)
    linker = None
    if args.predictions:
        preds = load_docs(args.predictions)
        system = args.predictions
    else:
        tagger = load_tagger(args.model)
        preds = [tagger(Doc(g.id, g.text, meta=Meta())) for g in gold]
        write_jsonl(preds, out / "predictions.jsonl")
        system = f"{args.model} ({tagger.model_version})"
        linker = getattr(tagger, "link", None)
    pairing = pair_docs(gold, preds)
    metrics = evaluate(gold, preds, load_schema(), linker=linker, samples=args.samples, pairing=pairing)
    source = f"--predictions {args.predictions}" if args.predictions else f"--model {args.model}"
    values = f" --gold-values {args.gold_values}" if args.gold_values else ""
    values += " --script traditional" if args.script == "traditional" else ""
    metrics.update(command=f"mzie eval --gold {args.gold}{values} {source} -o {args.out}", system=system,
                   gold=args.gold)
    title = args.title or f"{system} against {args.gold}"
    write_report(out, metrics, title, errors(pairing.pairs), pairing.pairs)
    print(markdown(metrics, title))
    return 0
