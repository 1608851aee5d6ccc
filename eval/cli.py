"""`mzie eval`: score predictions against gold."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from minzheng_ie.annotation.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score predictions (or a tagger) against gold: strict entity and relation P/R/F1; "
                                    "`mzie eval cv --config …` cross-validates")
    p.add_argument("--gold", help="gold Label Studio export or records JSONL")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--predictions", help="predicted records JSONL or Label Studio export")
    src.add_argument("--model", help="tagger to run on the gold texts: 'rules' or a model folder")
    p.add_argument("-o", "--out", help="report folder (metrics.json, report.md)")
    p.add_argument("--title", default=None)
    p.set_defaults(func=cmd_eval)
    register_cv(p.add_subparsers(dest="eval_action", required=False, metavar="[cv]"))


def register_cv(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("cv", help="leave-one-document-out training and scoring of several variants → one table")
    c.add_argument("--config", required=True, help="cross-validation YAML, e.g. configs/cv.yaml")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    c.set_defaults(func=cmd_cv)


def cmd_cv(args: argparse.Namespace) -> int:
    from minzheng_ie.annotation.config import load_config

    from .cv import CVConfig, cross_validate, cv_markdown

    cfg = load_config(CVConfig, args.config, args.set)
    summary = cross_validate(cfg)
    from minzheng_ie.annotation.schema import load_schema

    print(cv_markdown(summary, load_schema().entity_labels))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if args.gold is None or args.out is None or (args.predictions is None and args.model is None):
        raise InputError("mzie eval needs --gold, -o and one of --predictions or --model "
                         "(or `mzie eval cv --config FILE` for cross-validation)")
    from minzheng_ie.annotation.convert import load_docs
    from minzheng_ie.annotation.record import Doc, Meta, write_jsonl, write_text_atomic
    from minzheng_ie.annotation.schema import load_schema
    from minzheng_ie.inference.tag import load_tagger

    from .spans import metrics_markdown, score

    gold = load_docs(args.gold)
    out = Path(args.out)
    if args.predictions:
        preds = load_docs(args.predictions)
        system = args.predictions
    else:
        tagger = load_tagger(args.model)
        preds = [tagger(Doc(g.id, g.text, meta=Meta())) for g in gold]
        write_jsonl(preds, out / "predictions.jsonl")
        system = f"model {args.model} ({tagger.model_version})"
    schema = load_schema()
    metrics = score(gold, preds, schema.entity_labels, schema.relation_labels)
    source = f"--predictions {args.predictions}" if args.predictions else f"--model {args.model}"
    metrics["command"] = f"mzie eval --gold {args.gold} {source} -o {args.out}"
    metrics["system"] = system
    metrics["gold"] = args.gold
    write_text_atomic(out / "metrics.json", json.dumps(metrics, ensure_ascii=False, indent=2) + "\n")
    title = args.title or f"{system} against {args.gold}"
    report = metrics_markdown(metrics, title) + f"\nProduced by `{metrics['command']}`.\n"
    write_text_atomic(out / "report.md", report)
    print(report)
    return 0
