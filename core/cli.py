"""`mzie`: one command, a subcommand per stage. Thin: parse arguments, call library
functions, print. Only this layer configures logging and progress bars."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from importlib import import_module

from .errors import InputError

# Each stage registers its own subcommands; modules are light to import (heavy
# libraries such as torch are imported inside the handlers).
STAGES = [
    "minzheng_ie.annotation.cli",
    "minzheng_ie.annotation.studio_cli",
    "minzheng_ie.training.cli",
    "minzheng_ie.inference.cli",
    "minzheng_ie.eval.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mzie", description="Information extraction from Chinese civil-affairs reports.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only, no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in STAGES:
        import_module(name).register(sub)
    return parser


def quiet_libraries() -> None:
    """No progress bars or advice from transformers and the hub (a "Loading weights" bar on every
    model load) and no Python warnings from libraries: `-v` shows them all. The environment is
    read when those libraries are first imported, which is after this, in the handlers;
    a value the user set is kept."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    logging.captureWarnings(True)  # warnings.warn(...) → the py.warnings logger, silenced below -v
    logging.getLogger("py.warnings").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not args.verbose:
        quiet_libraries()
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"mzie: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mzie: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
