"""How much window overlap the tagger needs: speed against accuracy for the window length and
stride of the decode settings, in one run. Writes bench/overlap.json and bench/OVERLAP.md.

    python bench/overlap.py --model models/minzheng-small [--repeats 3]

A window of `max_length` tokens holds max_length - 2 characters ([CLS], [SEP]); consecutive
windows share `stride` tokens, so a document of n characters is fed as about
n × (max_length - 2) / (max_length - 2 - stride) tokens: 1.34× for 256/64, 1.15× for 256/32,
1.07× for 256/16. Every character is predicted in the window where it sits farthest from an
edge, so a smaller overlap leaves less context at the seams, which is what the accuracy
columns measure.

Accuracy is measured on the gold the model was not trained on *outside the test split*:
the train and dev parts of annotation/data/gold/split.json minus the seed reports (the
shipped model's training data). The test split is never used to choose settings. Speed is
measured on the bench corpus sample of bench/run.py, each setting timed `repeats` times in
rotation, median kept.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from minzheng_ie.annotation.convert import load_docs
from minzheng_ie.core.record import Doc, write_text_atomic
from minzheng_ie.eval.spans import score
from minzheng_ie.inference.model_tagger import ModelTagger
from minzheng_ie.training.codec import encode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import REPO, bench_arguments, corpus_texts, timed  # noqa: E402 — the bench's corpus sample

SETTINGS = ((256, 64), (256, 32), (256, 16), (512, 64), (512, 32))
SPLIT = REPO / "annotation/data/gold/split.json"


def measurement_gold() -> list[Doc]:
    seeds = {p.stem for p in (REPO / "annotation/data/seeds").glob("*.txt")}
    docs = load_docs(f"{SPLIT}:train") + load_docs(f"{SPLIT}:dev")
    return [d for d in docs if d.id not in seeds]


def tokens_fed(tagger: ModelTagger, docs: list[Doc]) -> int:
    s = tagger.settings
    return sum(sum(w.attention_mask) for d in docs
               for w in encode(d.text, tagger.tokenizer, max_length=s.max_length, stride=s.stride))


def main() -> int:
    args = bench_arguments(__doc__, corpus_chars=60_000, repeats=3).parse_args()

    base = ModelTagger(args.model)
    taggers = {}
    for length, stride in SETTINGS:
        t = ModelTagger.__new__(ModelTagger)
        t.__dict__.update(base.__dict__)  # same weights, other decode settings
        t.settings = replace(base.settings, max_length=length, stride=stride)
        taggers[(length, stride)] = t
    gold = measurement_gold()
    corpus = corpus_texts(args.corpus_chars)
    chars = sum(len(d.text) for d in corpus)
    times: dict = {k: [] for k in taggers}
    for _ in range(args.repeats):
        for key, t in taggers.items():
            times[key].append(timed(lambda: t.tag_batch([Doc(d.id, d.text) for d in corpus]))[0])
    current = (base.settings.max_length, base.settings.stride)
    ref = {d.id: {e.span for e in d.entities} for d in taggers[current].tag_batch(gold)}
    rows = []
    for key, t in taggers.items():
        preds = t.tag_batch(gold)
        m = score(gold, preds, base.schema.entity_labels, base.schema.relation_labels)
        same = sum(len(ref[p.id] & {e.span for e in p.entities}) for p in preds)
        med = statistics.median(times[key])
        rows.append({"max_length": key[0], "stride": key[1],
                     "tokens_per_character": round(tokens_fed(t, corpus) / chars, 3),
                     "median_seconds": round(med, 3), "chars_per_second": round(chars / med),
                     "entity_f1": round(m["entities"]["micro"]["f1"], 4),
                     "relation_f1": round(m["relations"]["micro"]["f1"], 4),
                     "entities": sum(len(p.entities) for p in preds),
                     "entities_as_current": same})
        print(json.dumps(rows[-1]), file=sys.stderr)
    result = {"model": args.model, "repeats": args.repeats, "current": list(current),
              "speed_corpus_characters": chars, "gold_documents": len(gold),
              "gold_characters": sum(len(d.text) for d in gold), "rows": rows}
    out = Path(args.out)
    write_text_atomic(out / "overlap.json", json.dumps(result, indent=2) + "\n")
    write_text_atomic(out / "OVERLAP.md", markdown(result))
    return 0


def markdown(r: dict) -> str:
    lines = ["# Window overlap: speed against accuracy", "",
             f"Model `{r['model']}` (current setting: {r['current'][0]} tokens, stride {r['current'][1]}). "
             f"Speed: {r['speed_corpus_characters']:,} characters of the bench corpus, median of {r['repeats']} "
             f"rotated runs. Accuracy: {r['gold_documents']} gold documents ({r['gold_characters']:,} characters) "
             f"of the train and dev splits the model was not trained on; never the test split. Produced by "
             f"`python bench/overlap.py --model {r['model']}`.", "",
             "| window | stride | tokens / char | median s | chars/s | entity F1 | relation F1 | entities | "
             "same as current |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for x in r["rows"]:
        lines.append(f"| {x['max_length']} | {x['stride']} | {x['tokens_per_character']} | {x['median_seconds']} | "
                     f"{x['chars_per_second']:,} | {x['entity_f1']} | {x['relation_f1']} | {x['entities']} | "
                     f"{x['entities_as_current']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
