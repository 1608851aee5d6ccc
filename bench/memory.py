"""Peak memory tagging one long document, against its length, per runtime. Writes
bench/memory.json and bench/MEMORY.md.

    python bench/memory.py --model models/minzheng-small [--sizes-mb 0.5,5] [--runtimes torch,int8,onnx]

Each measurement runs in a fresh process that loads the model, builds one document of the
given size in UTF-8 (government text from ../shared/corpus, concatenated; 5 MB ≈ 1.7M
Chinese characters), tags it through `mzie tag`'s tagger and reports its peak resident set
(ru_maxrss) — the number the operating system charges, including the model and Python.
"""
from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def document(megabytes: float) -> str:
    need = int(megabytes * 1_000_000)
    parts, size = [], 0
    while True:  # the corpus files are reused in a loop if one pass is not enough
        for name in ("gwr_provincial_2025", "gwr_national_1954_2024", "crud_news_2023_govrelated"):
            with gzip.open(CORPUS / f"{name}.jsonl.gz", "rt", encoding="utf-8") as fh:
                for line in fh:
                    text = (json.loads(line)["text"] or "") + "\n"
                    parts.append(text)
                    size += len(text.encode("utf-8"))
                    if size >= need:
                        return "".join(parts).encode("utf-8")[:need].decode("utf-8", "ignore")


def child(model: str, runtime: str, megabytes: float) -> dict:
    from minzheng_ie.core.record import Doc
    from minzheng_ie.inference.tag import load_tagger

    text = document(megabytes)
    tagger = load_tagger(model, runtime)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    out = tagger(Doc("long", text))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"runtime": runtime, "megabytes": megabytes, "characters": len(text), "entities": len(out.entities),
            "seconds": round(seconds, 1), "chars_per_second": round(len(text) / seconds),
            "peak_rss_mib_before_tagging": round(before / 1024), "peak_rss_mib": round(peak / 1024)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--sizes-mb", default="0.5,5")
    ap.add_argument("--runtimes", default="torch,int8,onnx")
    ap.add_argument("--out", default=str(REPO / "bench"))
    ap.add_argument("--child", nargs=2, metavar=("RUNTIME", "MB"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.model, args.child[0], float(args.child[1]))))
        return 0
    rows = []
    for runtime in args.runtimes.split(","):
        for mb in args.sizes_mb.split(","):
            proc = subprocess.run([sys.executable, __file__, "--model", args.model, "--child", runtime, mb],
                                  capture_output=True, text=True, check=True)
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "memory.json").write_text(json.dumps({"model": args.model, "rows": rows}, indent=2) + "\n", encoding="utf-8")
    lines = ["# Peak memory tagging one document", "",
             f"Model `{args.model}`; each row a fresh process (peak RSS, model and Python included). Produced by "
             f"`python bench/memory.py --model {args.model} --sizes-mb {args.sizes_mb} --runtimes {args.runtimes}`. "
             "Seconds are incidental here (runs are not rotated); throughput is compared in RESULTS.md.", "",
             "| runtime | document MB | characters | seconds | chars/s | peak RSS before tagging MiB | peak RSS MiB |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['runtime']} | {r['megabytes']} | {r['characters']:,} | {r['seconds']} | "
                     f"{r['chars_per_second']:,} | {r['peak_rss_mib_before_tagging']} | {r['peak_rss_mib']} |")
    (out / "MEMORY.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
