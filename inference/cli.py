"""`mzie tag`: batch-tag reports into structured records."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tag", help="tag reports: files, folders, globs, .jsonl or - (stdin)")
    p.add_argument("inputs", nargs="+")
    p.add_argument("-o", "--out", required=True, help="output file (jsonl, label-studio) or folder (markup)")
    p.add_argument("--model", default="rules", help="'rules' (the rule tagger, default) or a model folder")
    p.add_argument("--format", choices=["jsonl", "label-studio", "markup"], default="jsonl")
    p.set_defaults(func=cmd_tag)


def progress_bar(args: argparse.Namespace):
    """A tqdm bar over documents, unless --quiet."""
    if args.quiet:
        return None
    from functools import partial

    from tqdm.auto import tqdm

    return partial(tqdm, unit="doc", desc="tagging")


def cmd_tag(args: argparse.Namespace) -> int:
    from .tag import tag_inputs

    return tag_inputs(args.inputs, args.out, model=args.model, fmt=args.format, progress=progress_bar(args))
