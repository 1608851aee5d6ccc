"""`mzie tag` throughput by engine: the local engine, Ray with 1 worker and Ray with 2 workers, on the
same documents, in one run, with Ray's start-up cost measured apart. Writes bench/engines.json
and bench/ENGINES.md.

    python bench/engines.py --model models/minzheng-small [--corpus-chars 150000] [--repeats 1]

Documents: civil-affairs news from ../shared/corpus (crud_news_2023_govrelated, articles with
at least three civil-affairs terms, in corpus order, until --corpus-chars), written as .txt files
to a temporary folder (never into the repository), so every run reads, decodes, tags and writes
through the whole `run_batch` path, output files included.

- local: this process, torch with all its threads, the model loaded before the clock starts
  (its load time is shown apart);
- ray N: `--engine ray --workers N` on a Ray instance of N CPUs started by the run; one torch
  thread per worker. Its wall time includes starting Ray, starting the actors and loading the
  model in each; `start-up` is that cost alone, measured as a run over a short document per worker, and
  the rates are also given with it taken off (the steady rate a long batch converges to).

Every run must write the same records as the local engine (checked; the run fails otherwise).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from minzheng_ie.core.record import write_text_atomic
from minzheng_ie.inference.ray_engine import RayEngine
from minzheng_ie.inference.tag import load_tagger, run_batch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import CORPUS, DOMAIN, REPO, bench_arguments  # noqa: E402 — the bench's corpus and options


def news_folder(folder: Path, limit: int) -> tuple[int, int]:
    """Civil-affairs news articles as .txt files in `folder`, until `limit` characters: (documents, characters)."""
    folder.mkdir(parents=True, exist_ok=True)
    n = chars = 0
    with gzip.open(CORPUS / "crud_news_2023_govrelated.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            text = json.loads(line)["text"] or ""
            if len(DOMAIN.findall(text)) < 3:
                continue
            (folder / f"n{n:04d}.txt").write_text(text, encoding="utf-8")
            n += 1
            chars += len(text)
            if chars >= limit:
                break
    return n, chars


def timed_run(inputs: Path, out: Path, **kw) -> float:
    start = time.perf_counter()
    res = run_batch([str(inputs)], out, **kw)
    seconds = time.perf_counter() - start
    if res.failed:
        raise SystemExit(f"{len(res.failed)} document(s) failed in the benchmark: {res.failed[:3]}")
    return seconds


def main() -> int:
    args = bench_arguments(__doc__, corpus_chars=150_000, repeats=1).parse_args()
    with tempfile.TemporaryDirectory(prefix="mzie-bench-") as tmp:  # the corpus texts never stay on disk
        results = measure(args, Path(tmp))
    out = Path(args.out)
    write_text_atomic(out / "engines.json", json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    write_text_atomic(out / "ENGINES.md", markdown(results))
    return 0


def measure(args: argparse.Namespace, tmp: Path) -> dict:
    for key in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_NO_ADVISORY_WARNINGS"):
        os.environ.setdefault(key, "1")  # no "Loading weights" bars from every worker (the CLI does the same)
    docs, chars = news_folder(tmp / "in", args.corpus_chars)
    (tmp / "short").mkdir()
    for i in range(2):  # one short document per worker, each its own piece (work_bytes=1) so every actor starts
        (tmp / "short" / f"s{i}.txt").write_text("全年支出城乡低保资金2551.35万元。", encoding="utf-8")
    start = time.perf_counter()
    tagger = load_tagger(args.model)
    load_seconds = time.perf_counter() - start

    systems = {"local": None, "ray 1 worker": 1, "ray 2 workers": 2}
    times: dict[str, list[float]] = {name: [] for name in systems}
    startup: dict[str, list[float]] = {name: [] for name, w in systems.items() if w}
    reference = None
    for r in range(args.repeats):
        for name, workers in systems.items():  # rotation: every system sees the same machine noise
            out = tmp / f"{name.replace(' ', '-')}-{r}.jsonl"
            if workers is None:
                times[name].append(timed_run(tmp / "in", out, tagger=tagger))
            else:
                startup[name].append(timed_run(tmp / "short", tmp / f"short-{workers}-{r}.jsonl",
                                               engine=RayEngine(args.model, workers=workers, work_bytes=1)))
                times[name].append(timed_run(tmp / "in", out, engine=RayEngine(args.model, workers=workers)))
            records = out.read_text(encoding="utf-8")
            reference = reference or records
            if records != reference:
                raise SystemExit(f"{name}: the records differ from the local engine's ({out})")
            print(name, f"{times[name][-1]:.1f} s", file=sys.stderr)

    rows = {}
    for name, ts in times.items():
        wall = statistics.median(ts)
        row = {"seconds": [round(t, 2) for t in ts], "median_seconds": round(wall, 2),
               "docs_per_second": round(docs / wall, 2), "chars_per_second": round(chars / wall)}
        if name in startup:
            start_s = statistics.median(startup[name])
            steady = wall - start_s
            if steady <= 0.1 * wall:  # start-up is nearly all of it: the corpus is too small to tell
                raise SystemExit(f"{name}: start-up {start_s:.1f} s of {wall:.1f} s; give a larger --corpus-chars")
            row.update(startup_seconds=round(start_s, 2), steady_docs_per_second=round(docs / steady, 2),
                       steady_chars_per_second=round(chars / steady))
        rows[name] = row
    per_worker = rows["ray 1 worker"]["steady_chars_per_second"]
    return {"model": args.model, "documents": docs, "characters": chars, "repeats": args.repeats,
            "cpus": os.cpu_count(), "torch_threads_local": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "local_model_load_seconds": round(load_seconds, 2),
            "records_identical": True, "systems": rows, "per_worker_chars_per_second": per_worker}


def markdown(r: dict) -> str:
    lines = ["# Tagging throughput by engine", "",
             f"Model `{r['model']}`, {r['documents']} civil-affairs news articles from the corpus, "
             f"{r['characters']:,} characters, read from .txt files and written as records (the whole `mzie tag` "
             f"path); {r['cpus']} CPUs, torch {r['torch']}, median of {r['repeats']} rotated run(s). Produced by "
             f"`python bench/engines.py --model {r['model']} --corpus-chars {r['characters'] // 1000 * 1000}`. "
             f"Every engine wrote the same records.", "",
             "| engine | wall s (each run) | docs/s | chars/s | Ray start-up s | docs/s without start-up | "
             "chars/s without start-up |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, s in r["systems"].items():
        runs = ", ".join(str(t) for t in s["seconds"])
        lines.append(f"| {name} | {s['median_seconds']} ({runs}) | {s['docs_per_second']} | {s['chars_per_second']:,} | "
                     f"{s.get('startup_seconds', '')} | {s.get('steady_docs_per_second', '')} | "
                     + (f"{s['steady_chars_per_second']:,} |" if "steady_chars_per_second" in s else " |"))
    lines += ["", f"local: torch with {r['torch_threads_local']} threads, model loaded once before the clock "
                  f"({r['local_model_load_seconds']} s). ray N: N workers of one CPU and one torch thread each; "
                  f"start-up (Ray, the actors, the model in each) is a run over one short document per worker.",
              f"Per worker (one CPU), without start-up: {r['per_worker_chars_per_second']:,} characters/s.",
              "", "The machine's 2 cores are shared with other work, so single runs wander (see each run's "
                  "seconds); the medians are what the README uses."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
