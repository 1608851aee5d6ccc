"""`mzie tag`: batch-tag reports into structured records."""
from __future__ import annotations

import argparse
import logging
from typing import Iterable, Iterator

from .outputs import FORMATS
from .tag import DEFAULT_MAX_CHARS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tag", help="tag reports: files, folders, globs, .jsonl or - (stdin)",
                       description="Tag reports. Rerunning the same command resumes: documents already in the "
                                   "output with the same text and model are skipped.")
    p.add_argument("inputs", nargs="+")
    p.add_argument("-o", "--out", required=True,
                   help="output file (jsonl, label-studio) or folder (csv, parquet, markup)")
    add_model_option(p)
    p.add_argument("--format", default="jsonl", metavar="FORMAT[,FORMAT…]",
                   help=f"one or more of {', '.join(FORMATS)}, from one tagging pass (several: -o is a folder "
                        f"with records.jsonl, csv/, parquet/, tasks.json, markup/). jsonl: records; csv/parquet: "
                        f"mentions, relations and facts tables; label-studio: tasks with predictions; markup: "
                        f"inline .ann files")
    p.add_argument("--runtime", choices=["torch", "onnx", "int8"], default="torch",
                   help="how a model runs: torch (fp32, default), int8 (dynamic quantisation: faster, a few "
                        "entities change) or onnx (ONNX Runtime, same entities; needs the onnx extra)")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="where reading and tagging run: local (this process, default) or ray (a pool of Ray "
                        "workers, each loading the model once; needs the ray extra). Same records either way")
    p.add_argument("--address", metavar="ADDR",
                   help="--engine ray: join a running Ray cluster ('auto' on one of its machines, or "
                        "ray://HOST:10001); without it a Ray instance is started on this machine")
    p.add_argument("--workers", type=_positive, metavar="N",
                   help="--engine ray: tagging workers, one CPU each (default: every CPU of the Ray cluster)")
    p.add_argument("--max-chars", type=_count, default=DEFAULT_MAX_CHARS, metavar="N",
                   help=f"report documents longer than N characters instead of tagging them "
                        f"(default {DEFAULT_MAX_CHARS:,}; 0: no limit)")
    p.set_defaults(func=cmd_tag)


def add_model_option(p: argparse.ArgumentParser) -> None:
    """--model for every command that tags: tag, ls push, serve-backend."""
    p.add_argument("--model", default="default",
                   help="'default' (the shipped model, models/minzheng-small), 'rules' (the rule tagger) or a "
                        "model folder written by `mzie train`")


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of characters (0 for no limit)")
    return n


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return n


def progress_bar(args: argparse.Namespace) -> "TagProgress | None":
    return None if args.quiet else TagProgress()


class TagProgress:
    """A tqdm bar over tagged documents: documents/s and characters/s of tagging, and an ETA from
    the planned total. The clock starts when tagging does: after the model has loaded with
    --engine local; with --engine ray, Ray's start-up (workers, a model each) is in the first figures."""

    def __init__(self) -> None:
        self.bar = None

    def skip(self) -> None:
        if self.bar is not None and self.bar.total:
            self.bar.total -= 1  # planned, but already done: not part of the work left
            self.bar.refresh()

    def __call__(self, results: Iterable, total: int | None = None) -> Iterator:
        from tqdm.auto import tqdm

        chars = 0
        with tqdm(total=total, unit="doc", desc="tagging") as bar:
            self.bar = bar
            for item in results:
                chars += len(getattr(item, "text", ""))  # a read failure has no text and adds nothing
                bar.update(1)
                elapsed = bar.format_dict["elapsed"]
                if elapsed > 0:
                    bar.set_postfix_str(f"{chars / elapsed:,.0f} chars/s", refresh=False)
                yield item


def quiet_ray() -> None:
    """Ray's Python messages (auth token advice, dataset plans, a warning that its progress bars are
    off) only with `mzie -v`: the bar and our log say what matters. Ray sets its loggers up when
    it is imported, so the levels are set after importing it. (One C++ notice, that actor
    arguments live in the object store, comes from Ray Data's actor pool itself and stays.)"""
    try:
        import ray.data  # noqa: F401
    except ImportError:
        return  # the engine says how to install it
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


def cmd_tag(args: argparse.Namespace) -> int:
    from .tag import tag_inputs

    if args.engine == "ray" and not args.verbose:
        quiet_ray()

    return tag_inputs(args.inputs, args.out, model=args.model, fmt=args.format, progress=progress_bar(args),
                      max_chars=args.max_chars, runtime=args.runtime, engine=args.engine, address=args.address,
                      workers=args.workers)
