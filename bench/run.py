"""Tagging throughput: the project's batched path against transformers' pipeline, fp32 vs int8
vs ONNX Runtime, on the same model and texts, in one run. Writes bench/results.json and
bench/RESULTS.md.

    python bench/run.py --model models/minzheng-small [--corpus-chars 300000] [--repeats 3]
    python bench/run.py --model models/minzheng-small --scaling   # time against document length

Texts: the five seed reports; the same cut into sentences that fit one window (where the
pipeline's and the project's entities must agree one for one); and a fixed sample of
../shared/corpus (2025 provincial work reports, then civil-affairs news), never copied
into the repository.

Systems, each timed `repeats` times in rotation (so machine noise hits all alike), median kept:
- bare forward: the encoder alone on non-overlapping windows — the limit; every row also shows
  its share of it (bare forward's time ÷ the row's time);
- pipeline: transformers.pipeline("token-classification", aggregation_strategy="simple") on
  the model's entity head, fed characters (is_split_into_words) with the model's window and
  stride, batch size 16 — the standard tool, set up as well as it can be;
- ours-argmax: the project's path doing what the pipeline does — entities only, per-token
  argmax — with its entities compared to the pipeline's;
- ours: the project's real path (rule hints for models trained with them, CRF/Viterbi
  decoding, relations, normalisation) in fp32,
  int8 (dynamic quantisation of the linear layers) and ONNX Runtime (encoder exported once);
- rules alone: the rule tagger (`--model rules`, the annotators' pre-annotator), entities,
  relations and values, no model.
"""
from __future__ import annotations

import argparse
import gzip
import json
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import torch

from minzheng_ie.core.record import Doc, write_text_atomic
from minzheng_ie.inference.model_tagger import ModelTagger
from minzheng_ie.inference.tag import load_tagger
from minzheng_ie.training.predict import DecodeSettings, predict_docs

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
DOMAIN = re.compile("低保|特困|民政|养老|救助|残疾|孤儿|殡葬|福利|慈善")


def seed_texts() -> list[Doc]:
    return [Doc(p.stem, p.read_text(encoding="utf-8")) for p in sorted((REPO / "annotation/data/seeds").glob("*.txt"))]


def sentence_texts(docs: list[Doc], limit: int = 250) -> list[Doc]:
    """The documents cut at sentence ends into pieces that fit one window, so the pipeline and
    the project's path see exactly the same model inputs and their entities can be compared
    one for one (on longer texts the two merge overlapping windows by different policies)."""
    from minzheng_ie.inference.model_tagger import segments

    return [Doc(f"{d.id}@{a}", d.text[a:b]) for d in docs for a, b in segments(d.text, limit) if d.text[a:b].strip()]


def corpus_texts(limit: int) -> list[Doc]:
    docs, total = [], 0
    for name, need_domain in (("gwr_provincial_2025", False), ("crud_news_2023_govrelated", True)):
        with gzip.open(CORPUS / f"{name}.jsonl.gz", "rt", encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                text = json.loads(line)["text"] or ""
                if need_domain and len(DOMAIN.findall(text)) < 3:
                    continue
                text = text[:limit - total]
                docs.append(Doc(f"{name}#{i}", text))
                total += len(text)
                if total >= limit:
                    return docs
    return docs


def pipeline_entities(nlp, docs: list[Doc]) -> list[set]:
    """The pipeline on characters; its offsets index the characters joined by spaces (2 per char)."""
    out = []
    for d in docs:
        res = nlp(list(d.text), is_split_into_words=True) if d.text else []
        res = res[0] if res and isinstance(res[0], list) else res  # one pre-split input comes back nested
        out.append({(r["start"] // 2, (r["end"] + 1) // 2, r["entity_group"]) for r in res})
    return out


def ours_argmax(tagger: ModelTagger, docs: list[Doc]) -> list[set]:
    settings = DecodeSettings(**{**tagger.settings.__dict__, "decoder": "argmax", "relations": False})
    preds = predict_docs(tagger.model, tagger.tokenizer, docs, tagger.schema, tagger.id2label, settings)
    return [{e.span for e in p.entities} for p in preds]


def bare_forward(tagger: ModelTagger, docs: list[Doc]) -> int:
    """The limit: the encoder alone over the texts cut into windows that do not overlap, in
    length-sorted batches of the tagger's batch size — no rule hints, no decoding, no relations.
    Every tagging path runs at most this fast; `ours fp32 ÷ bare forward` is the share of the
    limit the full tagger reaches. Returns the number of windows."""
    from minzheng_ie.training.codec import encode

    s = tagger.settings
    windows = [w for d in docs for w in encode(d.text, tagger.tokenizer, max_length=s.max_length, stride=0)]
    windows.sort(key=lambda w: len(w.input_ids))
    pad = tagger.tokenizer.pad_token_id
    with torch.inference_mode():
        for b in range(0, len(windows), s.batch_size):
            chunk = windows[b:b + s.batch_size]
            t = max(len(w.input_ids) for w in chunk)
            ids = torch.tensor([w.input_ids + [pad] * (t - len(w.input_ids)) for w in chunk])
            mask = torch.tensor([w.attention_mask + [0] * (t - len(w.attention_mask)) for w in chunk])
            hints = torch.zeros_like(ids) if tagger.model.hints is not None else None
            bigrams = torch.zeros(*ids.shape, 2, dtype=torch.long) if tagger.model.bigrams is not None else None
            tagger.model.encode(ids, mask, hints, bigrams)
    return len(windows)


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


SCALES = (1, 2, 4, 8)


def scaling(model: str, repeats: int) -> dict:
    """Seconds to tag one document made of the shortest seed report repeated 1×, 2×, 4× and 8×
    (3,530 to 28,240 characters), with the rules and with `model`: linear time shows as seconds
    per 1,000 characters staying flat down the column."""
    from minzheng_ie.annotation.rules import RuleTagger

    report = min(seed_texts(), key=lambda d: len(d.text)).text
    taggers = {"rules": RuleTagger(), "model": ModelTagger(model)}
    rows = []
    for k in SCALES:
        text = report * k
        row = {"copies": k, "characters": len(text)}
        for name, tagger in taggers.items():
            med = statistics.median(timed(lambda: tagger(Doc("x", text)))[0] for _ in range(repeats))
            row[name] = {"median_seconds": round(med, 3), "ms_per_1000_chars": round(1e6 * med / len(text), 1)}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    return {"model": model, "repeats": repeats, "report_characters": len(report), "rows": rows}


def scaling_markdown(r: dict) -> str:
    lines = ["# Tagging time against document length", "",
             f"One document: the shortest seed report ({r['report_characters']:,} characters) repeated; median of "
             f"{r['repeats']} runs. Produced by `python bench/run.py --model {r['model']} --scaling`. Linear time: "
             f"ms per 1,000 characters stays flat.", "",
             "| copies | characters | rules s | rules ms/1k chars | model s | model ms/1k chars |",
             "|---:|---:|---:|---:|---:|---:|"]
    for row in r["rows"]:
        lines.append(f"| {row['copies']} | {row['characters']:,} | {row['rules']['median_seconds']} | "
                     f"{row['rules']['ms_per_1000_chars']} | {row['model']['median_seconds']} | "
                     f"{row['model']['ms_per_1000_chars']} |")
    return "\n".join(lines) + "\n"


def bench_arguments(doc: str, corpus_chars: int, repeats: int) -> argparse.ArgumentParser:
    """The options every bench script takes: the model, the size of the corpus sample, the
    repeats (the median is kept) and the folder the results go to."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--corpus-chars", type=int, default=corpus_chars)
    ap.add_argument("--repeats", type=int, default=repeats)
    ap.add_argument("--out", default=str(REPO / "bench"))
    return ap


def main() -> int:
    ap = bench_arguments(__doc__, corpus_chars=300_000, repeats=3)
    ap.add_argument("--scaling", action="store_true",
                    help="only the time-against-length table → scaling.json and SCALING.md")
    args = ap.parse_args()
    if args.scaling:
        r = scaling(args.model, args.repeats)
        write_text_atomic(Path(args.out) / "scaling.json", json.dumps(r, indent=2) + "\n")
        write_text_atomic(Path(args.out) / "SCALING.md", scaling_markdown(r))
        return 0

    from transformers import pipeline

    fp32 = ModelTagger(args.model)
    fp32.tokenizer.model_max_length = fp32.settings.max_length  # the pipeline chunks by it
    int8 = ModelTagger(args.model, runtime="int8")
    onnx = ModelTagger(args.model, runtime="onnx")
    rules = load_tagger("rules")
    rules(Doc("warm-up", "重庆市低保"))  # the gazetteer and lexicon load on first use, not in a timed run
    nlp = pipeline("token-classification", model=fp32.model.token_model, tokenizer=fp32.tokenizer,
                   aggregation_strategy="simple", device=-1, stride=fp32.settings.stride,
                   batch_size=fp32.settings.batch_size)
    sets = {"seeds": seed_texts(), "seed sentences": sentence_texts(seed_texts()),
            "corpus": corpus_texts(args.corpus_chars)}
    systems = {
        "bare forward": lambda docs: bare_forward(fp32, docs),
        "pipeline": lambda docs: pipeline_entities(nlp, docs),
        "ours-argmax": lambda docs: ours_argmax(fp32, docs),
        "ours fp32": lambda docs: fp32.tag_batch(docs),
        "ours int8": lambda docs: int8.tag_batch(docs),
        "ours onnx": lambda docs: onnx.tag_batch(docs),
        "rules alone": lambda docs: [rules(d) for d in docs],
    }
    results = {"model": args.model, "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
               "torch": torch.__version__, "repeats": args.repeats, "corpus_chars": args.corpus_chars, "sets": {}}
    for set_name, docs in sets.items():
        chars = sum(len(d.text) for d in docs)
        times: dict[str, list[float]] = {k: [] for k in systems}
        outputs: dict[str, object] = {}
        for _ in range(args.repeats):
            for name, fn in systems.items():  # rotation: every system sees the same noise
                dt, out = timed(lambda: fn([Doc(d.id, d.text) for d in docs]))
                times[name].append(dt)
                outputs[name] = out
        row = {"documents": len(docs), "characters": chars, "systems": {}}
        for name, ts in times.items():
            med = statistics.median(ts)
            row["systems"][name] = {"seconds": [round(t, 3) for t in ts], "median_seconds": round(med, 3),
                                    "chars_per_second": round(chars / med)}
        base = row["systems"]["pipeline"]["median_seconds"]
        limit = row["systems"]["bare forward"]["median_seconds"]
        for name in systems:
            row["systems"][name]["speed_vs_pipeline"] = round(base / row["systems"][name]["median_seconds"], 2)
            row["systems"][name]["share_of_bare_forward"] = round(limit / row["systems"][name]["median_seconds"], 2)
        pipe, mine = outputs["pipeline"], outputs["ours-argmax"]
        same = sum(len(a & b) for a, b in zip(pipe, mine))
        row["entities_pipeline_vs_ours_argmax"] = {
            "pipeline": sum(map(len, pipe)), "ours": sum(map(len, mine)), "identical": same,
            "documents_identical": sum(a == b for a, b in zip(pipe, mine))}
        ref = [{e.span for e in d.entities} for d in outputs["ours fp32"]]
        for name in ("ours int8", "ours onnx"):
            got = [{e.span for e in d.entities} for d in outputs[name]]
            row["systems"][name]["entities_equal_to_fp32"] = sum(len(a & b) for a, b in zip(ref, got))
            row["systems"][name]["entities"] = sum(map(len, got))
        row["systems"]["ours fp32"]["entities"] = sum(map(len, ref))
        results["sets"][set_name] = row
        print(json.dumps({set_name: row}, ensure_ascii=False, indent=1), file=sys.stderr)
    out = Path(args.out)
    write_text_atomic(out / "results.json", json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    write_text_atomic(out / "RESULTS.md", markdown(results))
    return 0


def markdown(r: dict) -> str:
    lines = ["# Tagging throughput", "", f"Model `{r['model']}`, torch {r['torch']} with {r['torch_threads']} threads, "
             f"median of {r['repeats']} rotated runs. Produced by `python bench/run.py --model {r['model']} "
             f"--corpus-chars {r['corpus_chars']}`.", ""]
    for name, row in r["sets"].items():
        lines += [f"## {name}: {row['documents']} documents, {row['characters']:,} characters", "",
                  "| system | median s | chars/s | × pipeline | share of bare forward | entities | equal to fp32 |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for sys_name, s in row["systems"].items():
            lines.append(f"| {sys_name} | {s['median_seconds']} | {s['chars_per_second']:,} | {s['speed_vs_pipeline']} | "
                         f"{s['share_of_bare_forward']} | {s.get('entities', '')} | {s.get('entities_equal_to_fp32', '')} |")
        e = row["entities_pipeline_vs_ours_argmax"]
        lines += ["", f"Entities, pipeline vs ours-argmax (same decoding): pipeline {e['pipeline']}, ours {e['ours']}, "
                      f"identical {e['identical']}; documents with identical entity sets {e['documents_identical']} of "
                      f"{row['documents']}.", ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
