"""Domain pretraining of the character encoder: masked-language modelling, made to run for hours.

The text pipeline runs on `datasets`: JSONL (plain or .gz, field `text`) and plain-text
files are read, exact duplicates dropped, the records gold passages were cut from
(`exclude_manifests`) left out, one document in `1/holdout_every` (by a hash of its text,
so the slice is stable as inputs are added) held out for measuring, and the rest cut into
chunks of `chunk_chars` characters tokenized the way the tagger sees text — one token
per character via `is_split_into_words` — so what the encoder learns here is exactly
what fine-tuning feeds it.

Objective. `masking: whole_word` masks every character of a word together (words from
jieba's dictionary segmentation): the model cannot recover 低[MASK] from 低 alone, it has
to use the context, which is what Chinese-BERT-wwm found to transfer better than masking
single characters (`masking: token`). Either way 15% of positions are chosen, 80% of
those become [MASK], 10% a random character, 10% stay, and the vocabulary projection
is applied only at chosen positions (`masked_positions_loss`).

Budget. Each step costs ≈ 6 × parameters × tokens FLOPs: for `scratch:small` (9M
parameters, most of them the 21k × 256 embedding that a token only reads one row of, so
≈ 3.2M dense) at 32 × 128 tokens that is ≈ 80 GFLOP, about 1.3 s on 2 cores. Short
chunks (126 characters) are used for most steps, as BERT did, and a second, shorter
run at 254 characters (`configs/pretrain-long.yaml`) teaches positions 128–255.

Running for hours. A run stops at `max_steps` or after `max_minutes`, whichever comes
first; a checkpoint (model, optimizer, scheduler, data position) is written every
`save_steps` and when the budget runs out, and `--resume` continues from the newest
one. Every `eval_steps` the held-out slice is scored (masked-character accuracy and
loss, with a fixed mask), and `pretrain_curve.json` / `pretrain_curve.png` beside the
model always hold the curve so far. The log line at each `logging_steps` gives loss
and throughput in characters per second.

`bf16: true` runs the steps under bfloat16 autocast (weights stay fp32): on this
machine's AVX512-BF16 cores a 64 × 128 step took 1.54 s instead of 2.54 s.
`snapshot_steps` keeps copies of the encoder along the way, to measure downstream
scores at several points of one run.

`init_vectors` starts a scratch encoder's character embeddings from word2vec vectors
(`mzie vectors`), trained on the whole corpus in minutes: the cheapest signal there is.
"""
from __future__ import annotations

import glob
import hashlib
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

from minzheng_ie.core.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainConfig:
    base_model: str  # scratch:<size>, a hub id or a directory
    inputs: tuple[str, ...]  # files or globs: .txt, .jsonl, .jsonl.gz
    output_dir: str
    chunk_chars: int = 254  # + [CLS] and [SEP] = 256 positions
    min_chunk_chars: int = 32
    masking: str = "token"  # token | whole_word (jieba words)
    mlm_probability: float = 0.15
    batch_size: int = 32
    learning_rate: float = 5e-4
    warmup_steps: int = 200
    weight_decay: float = 0.01
    max_steps: int = 100_000
    max_minutes: float = 60.0
    max_documents: int | None = None  # per input file, for quick runs
    dedup: bool = True  # drop documents whose text is an exact duplicate of an earlier one
    exclude_manifests: tuple[str, ...] = ()  # gold passage manifests: their source records are left out
    holdout_every: int = 100  # one document in this many is held out (by text hash); 0 holds out none
    eval_steps: int = 500
    eval_chunks: int = 1024  # held-out chunks scored at each evaluation
    save_steps: int = 500
    snapshot_steps: int = 0  # also keep a copy of the encoder every this many steps (for a downstream curve); 0: none
    bf16: bool = False  # bfloat16 autocast: 1.65× faster on CPUs with AVX512-BF16 (measured, 2-core EPYC)
    init_vectors: str | None = None  # word2vec text file of character vectors (scratch encoders only)
    seed: int = 13
    logging_steps: int = 50


def input_files(patterns: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for pat in patterns:
        matches = sorted(Path(m) for m in glob.glob(pat)) if any(c in pat for c in "*?[") else [Path(pat)]
        missing = [m for m in matches if not m.is_file()]
        if not matches or missing:
            raise InputError(f"pretraining input {pat!r} matches no file; give .txt, .jsonl or .jsonl.gz paths or globs")
        files += matches
    return files


def load_texts(files: list[Path], max_documents: int | None, with_source: bool = False):
    """A datasets.Dataset with a column `text` (and `source`: file name and record number), one row per document."""
    import datasets

    parts = []
    for f in files:
        name = f.name
        if name.endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz")):
            ds = datasets.load_dataset("json", data_files=str(f), split="train")
            if "text" not in ds.column_names:
                raise InputError(f"{f}: JSONL records need a 'text' field")
            ds = ds.select_columns(["text"])
        else:
            ds = datasets.Dataset.from_dict({"text": [f.read_text(encoding="utf-8")]})
        if max_documents is not None:
            ds = ds.select(range(min(max_documents, len(ds))))
        if with_source:
            ds = ds.add_column("source", [f"{name}#{i}" for i in range(len(ds))])
        parts.append(ds)
    return datasets.concatenate_datasets(parts)


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def select_documents(texts, cfg: PretrainConfig):
    """(train, held_out, counts): duplicates and gold-passage records removed, a stable slice held out."""
    excluded: set[str] = set()  # file#record of every record a gold passage was cut from
    if cfg.exclude_manifests:
        from minzheng_ie.annotation.passages import read_manifest

        for p in (p for m in cfg.exclude_manifests for p in read_manifest(m)):
            excluded.update(f"{p['file']}#{s['record']}" for s in p["segments"])
    digests = [_digest(t or "") for t in texts["text"]]
    # a copy of a gold passage's record elsewhere in the corpus is left out too
    excluded_digests = {d for d, source in zip(digests, texts["source"]) if source in excluded}
    seen: set[str] = set()
    keep_train, keep_held = [], []
    counts = {"documents_read": len(texts), "duplicates": 0, "excluded_gold_records": 0, "empty": 0}
    for i, (text, digest) in enumerate(zip(texts["text"], digests)):
        if not (text or "").strip():
            counts["empty"] += 1
            continue
        if digest in excluded_digests:
            counts["excluded_gold_records"] += 1
            continue
        if cfg.dedup and digest in seen:
            counts["duplicates"] += 1
            continue
        seen.add(digest)
        held = cfg.holdout_every and int(digest[:8], 16) % cfg.holdout_every == 0
        (keep_held if held else keep_train).append(i)
    counts.update(train_documents=len(keep_train), held_out_documents=len(keep_held))
    return texts.select(keep_train), texts.select(keep_held), counts


def chunk_and_tokenize(texts, tokenizer, cfg: PretrainConfig):
    """Chunks of `chunk_chars` characters → input_ids, special_tokens_mask and word_starts.

    word_starts[i] is 1 where token i begins a word (every token under `masking: token`;
    jieba's words under `whole_word`), so the collator can mask whole words.
    """
    whole_word = cfg.masking == "whole_word"
    if cfg.masking not in ("token", "whole_word"):
        raise InputError(f"masking {cfg.masking!r}: choose token or whole_word")
    if whole_word:
        from .codec import load_jieba

        jieba = load_jieba("masking: whole_word")

    def chunk(batch):
        out = []
        for text in batch["text"]:
            text = text or ""
            for i in range(0, len(text), cfg.chunk_chars):
                piece = text[i:i + cfg.chunk_chars]
                if len(piece.strip()) >= min(cfg.min_chunk_chars, cfg.chunk_chars):
                    out.append(piece)
        return {"chunk": out}

    def tokenize(batch):
        enc = tokenizer([list(c) for c in batch["chunk"]], is_split_into_words=True, truncation=True,
                        max_length=cfg.chunk_chars + 2, return_special_tokens_mask=True)
        starts = []
        for chunk_text, ids in zip(batch["chunk"], enc["input_ids"]):
            flags = [1] * len(ids)
            if whole_word:
                pos = 1  # after [CLS]; one token per character, so character i is token i + 1
                for word in jieba.cut(chunk_text, HMM=False):
                    for k in range(1, len(word)):
                        if pos + k < len(ids) - 1:
                            flags[pos + k] = 0
                    pos += len(word)
            starts.append(flags)
        return {"input_ids": enc["input_ids"], "special_tokens_mask": enc["special_tokens_mask"],
                "word_starts": starts}

    chunks = texts.map(chunk, batched=True, remove_columns=texts.column_names, desc="chunking")
    if len(chunks) == 0:  # datasets' map leaves an empty dataset's columns as they are
        import datasets

        return datasets.Dataset.from_dict({"input_ids": [], "special_tokens_mask": [], "word_starts": []})
    return chunks.map(tokenize, batched=True, remove_columns=["chunk"], desc="tokenizing")


def mask_whole_words(ids, special, starts, probability: float, mask_id: int, vocab_size: int, generator=None):
    """(masked input_ids, labels) for a [batch, n] batch: each word is chosen with `probability`
    and all its tokens are masked together, 80% [MASK], 10% a random token, 10% unchanged.

    `starts` is 1 where a token begins a word (all ones: BERT's token masking); `special`
    marks tokens never to mask ([CLS], [SEP], padding). Runs on whatever device `ids` is
    on, with `generator` on that device, so the packed loop masks on the GPU.
    """
    import torch

    n = ids.shape[1]
    kw = dict(generator=generator, device=ids.device)
    word_index = starts.cumsum(1)  # tokens of one word share an index
    chosen_word = torch.rand(ids.shape[0], n + 1, **kw) < probability
    masked = torch.gather(chosen_word, 1, word_index.clamp(max=n)) & ~special
    labels = torch.where(masked, ids, torch.full_like(ids, -100))
    roll = torch.rand(ids.shape, **kw)
    ids = ids.clone()
    ids[masked & (roll < 0.8)] = mask_id
    randomise = masked & (roll >= 0.8) & (roll < 0.9)
    ids[randomise] = torch.randint(vocab_size, ids.shape, **kw)[randomise]
    return ids, labels


class WordMaskCollator:
    """Pads a batch and masks whole words: each word is chosen with probability p, and every
    token of a chosen word is masked (80% [MASK], 10% random character, 10% unchanged).

    With word_starts all ones this is BERT's token masking. Choosing words, not tokens, with
    probability p still masks a fraction p of the tokens on average.
    """

    def __init__(self, tokenizer, probability: float, generator=None, whole_words: bool = True):
        self.tok = tokenizer
        self.p = probability
        self.generator = generator
        self.whole_words = whole_words  # False: mask single tokens whatever word_starts says

    def __call__(self, features: list[dict]):
        import torch

        n = max(len(f["input_ids"]) for f in features)
        pad = self.tok.pad_token_id

        def padded(key, fill):
            return torch.tensor([list(f[key]) + [fill] * (n - len(f[key])) for f in features])

        ids = padded("input_ids", pad)
        special = padded("special_tokens_mask", 1).bool()
        starts = padded("word_starts", 1) if self.whole_words else torch.ones_like(ids)
        attention = (torch.arange(n)[None, :] < torch.tensor([len(f["input_ids"]) for f in features])[:, None])
        ids, labels = mask_whole_words(ids, special, starts, self.p, self.tok.mask_token_id, len(self.tok), self.generator)
        return {"input_ids": ids, "attention_mask": attention.long(), "labels": labels}


def masked_positions_loss(model, input_ids, attention_mask=None, token_type_ids=None, labels=None, **_):
    """MLM loss with the vocabulary projection applied only where a token was masked.

    The projection is vocab × hidden per position: with 21k characters it costs more than the
    whole 4-layer encoder, and 85% of positions carry no label. Scoring only the ~15%
    masked positions gives the same loss for about a sixth of the head's work.
    """
    import torch.nn.functional as F

    hidden = model.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
    picked = labels != -100
    logits = model.cls(hidden[picked])
    return F.cross_entropy(logits, labels[picked]), logits, labels[picked]


def build_mlm_model(base_model: str, init_vectors: str | None = None):
    from transformers import BertForMaskedLM

    from .encoders import encoder_parts, is_scratch

    tokenizer, config = encoder_parts(base_model)
    if is_scratch(base_model):
        model = BertForMaskedLM(config)
        if init_vectors:
            load_character_vectors(model, tokenizer, init_vectors)
        return tokenizer, model
    if init_vectors:
        raise InputError("init_vectors starts a scratch encoder's embeddings; this base_model is already trained — "
                         "remove init_vectors or use base_model: scratch:<size>")
    if getattr(config, "model_type", None) != "bert":
        raise InputError(f"base_model {base_model!r}: pretraining supports BERT-architecture encoders, "
                         f"this one is {getattr(config, 'model_type', '?')!r}")
    import torch

    return tokenizer, BertForMaskedLM.from_pretrained(base_model, dtype=torch.float32)


def load_character_vectors(model, tokenizer, path: str) -> int:
    """Copy word2vec character vectors into the word embeddings, rescaled to the model's init scale.

    The vectors are standardised to the standard deviation BERT initialises with
    (`initializer_range`, 0.02), so that position embeddings keep their share of the sum.
    Returns the number of rows set; characters the vectors lack keep their random init.
    """
    import torch

    from .vectors import read_vectors

    vectors = read_vectors(path)
    emb = model.get_input_embeddings().weight
    dim = next(iter(vectors.values())).shape[0] if vectors else 0
    if dim != emb.shape[1]:
        raise InputError(f"init_vectors {path}: vectors have {dim} dimensions, the encoder's hidden size is "
                         f"{emb.shape[1]}; train vectors with dim: {emb.shape[1]}")
    vocab = tokenizer.get_vocab()
    rows = [(vocab[c], v) for c, v in vectors.items() if c in vocab]
    import numpy as np

    mat = torch.from_numpy(np.stack([v for _, v in rows])).to(emb.dtype)
    mat = (mat - mat.mean(0)) / mat.std() * model.config.initializer_range
    with torch.no_grad():
        emb[torch.tensor([i for i, _ in rows])] = mat
    log.info("init_vectors: %d of %d characters from %s", len(rows), len(vocab), path)
    return len(rows)


def held_out_chunks(held_texts, tokenizer, cfg: PretrainConfig):
    """The held-out documents as chunks, in the one order that `mzie pretrain`, the pack and
    `mzie pretrain-score` all use, so that their held-out batches are the same."""
    return chunk_and_tokenize(held_texts, tokenizer, cfg).shuffle(seed=cfg.seed)


def held_out_batches(held, tokenizer, cfg: PretrainConfig, seed: int = 0):
    """Fixed masked batches of the held-out slice: the same mask at every evaluation.

    Always single-character masking, whatever the training objective, so that runs with
    different objectives are scored on the same task.
    """
    import torch

    data = held.select(range(min(cfg.eval_chunks, len(held))))
    collate = WordMaskCollator(tokenizer, cfg.mlm_probability, torch.Generator().manual_seed(seed), whole_words=False)
    return [collate([data[j] for j in range(i, min(i + 64, len(data)))]) for i in range(0, len(data), 64)]


def evaluate_held_out(model, batches) -> dict:
    """Masked-character accuracy and loss over the held-out batches."""
    import torch

    model.eval()
    correct = total = 0
    loss_sum = 0.0
    with torch.no_grad():
        for b in batches:
            loss, logits, gold = masked_positions_loss(model, **b)
            correct += int((logits.argmax(-1) == gold).sum())
            total += int(gold.numel())
            loss_sum += float(loss) * int(gold.numel())
    model.train()
    return {"accuracy": correct / max(total, 1), "loss": loss_sum / max(total, 1), "masked": total}


def score_encoders(cfg: PretrainConfig, models: list[str]) -> list[dict]:
    """Held-out masked-character accuracy and loss of several encoders on one set of batches.

    The held-out documents, chunk length and fixed mask are `cfg`'s (as `mzie pretrain` scores
    them), so encoders from different runs are compared side by side, and at a chunk length
    their runs did not use (`chunk_chars=254`: positions 128-255, which the tagger's windows use).
    Every encoder must share the first one's vocabulary: the batches are its token ids.
    """
    if not models:
        raise InputError("no encoder to score; name one or more with --model DIR")
    from .encoders import encoder_parts

    files = input_files(cfg.inputs)
    tokenizer, _ = encoder_parts(models[0])  # its weights are loaded once, in the loop below
    _, held_texts, _ = select_documents(load_texts(files, cfg.max_documents, with_source=True), cfg)
    if not len(held_texts):
        raise InputError(f"no held-out documents: holdout_every is {cfg.holdout_every} (1 in that many documents is "
                         f"held out; 0 holds none out); score with the config the encoders were pretrained with")
    held = held_out_chunks(held_texts, tokenizer, cfg)
    batches = held_out_batches(held, tokenizer, cfg)
    vocab = tokenizer.get_vocab()
    rows = []
    for path in models:
        tok, model = build_mlm_model(path)
        if tok.get_vocab() != vocab:
            raise InputError(f"encoder {path}: its vocabulary differs from {models[0]}'s, so the same held-out "
                             f"token ids mean other characters to it; score encoders of one vocabulary together")
        m = evaluate_held_out(model, batches)
        log.info("%s: held-out masked-character accuracy %.4f, loss %.3f at %d characters",
                 path, m["accuracy"], m["loss"], cfg.chunk_chars)
        rows.append({"model": path, "chunk_chars": cfg.chunk_chars, "documents": len(held_texts),
                     "chunks": sum(len(b["input_ids"]) for b in batches), **m})
    return rows


def latest_checkpoint(out: Path) -> Path | None:
    found = sorted((out / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    return found[-1] if found else None


def pretrain(cfg: PretrainConfig, callbacks: list | None = None, resume: bool = False) -> dict:
    """Run MLM pretraining; writes the model, tokenizer, the curve and a summary to output_dir."""
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed

    from .report import git_hash, plot_curves, write_json

    set_seed(cfg.seed)
    out = Path(cfg.output_dir)
    checkpoint = latest_checkpoint(out) if resume else None
    if resume and checkpoint is None:
        raise InputError(f"--resume: no checkpoint under {out / 'checkpoints'}; start without --resume")
    files = input_files(cfg.inputs)
    tokenizer, model = build_mlm_model(cfg.base_model, None if checkpoint else cfg.init_vectors)
    texts, held_texts, counts = select_documents(load_texts(files, cfg.max_documents, with_source=True), cfg)
    data = chunk_and_tokenize(texts, tokenizer, cfg).shuffle(seed=cfg.seed)
    held = held_out_chunks(held_texts, tokenizer, cfg)
    n_chars = sum(len(t or "") for t in texts["text"])
    log.info("pretraining on %d documents, %d characters, %d chunks (%s); held out %d documents",
             len(texts), n_chars, len(data), ", ".join(f"{k} {v}" for k, v in counts.items()), len(held_texts))
    eval_batches = held_out_batches(held, tokenizer, cfg) if len(held) else []
    curve_path = out / "pretrain_curve.json"
    curve: dict = {"held_out": [], "loss": [], "throughput": []}
    if checkpoint and curve_path.exists():
        import json

        curve = json.loads(curve_path.read_text(encoding="utf-8"))

    def write_curve():
        write_json(curve_path, curve)
        series = {"train MLM loss": [(p["step"], p["loss"]) for p in curve["loss"]],
                  "held-out MLM loss": [(p["step"], p["loss"]) for p in curve["held_out"]]}
        plot_curves(out / "pretrain_curve.png", series, "step", "loss", "Pretraining (held-out: fixed mask)")

    chars_per_step = cfg.batch_size * cfg.chunk_chars

    class Budget(TrainerCallback):
        """Time budget, throughput in the log, held-out evaluation and the curve file."""

        def on_train_begin(self, args, state, control, **kw):
            self.start = self.last = time.monotonic()
            self.last_step = state.global_step
            if eval_batches and not any(p["step"] == state.global_step for p in curve["held_out"]):
                self._evaluate(state.global_step, kw["model"])

        def _evaluate(self, step, model):
            m = evaluate_held_out(model, eval_batches)
            curve["held_out"].append({"step": step, **m})
            log.info("step %d: held-out masked-character accuracy %.4f, loss %.3f", step, m["accuracy"], m["loss"])
            write_curve()

        def on_step_end(self, args, state, control, **kw):
            if time.monotonic() - self.start > cfg.max_minutes * 60:
                control.should_training_stop = True
                control.should_save = True
            if eval_batches and state.global_step % cfg.eval_steps == 0:
                self._evaluate(state.global_step, kw["model"])
            if cfg.snapshot_steps and state.global_step % cfg.snapshot_steps == 0:
                snap = out / "snapshots" / f"step-{state.global_step}"
                kw["model"].save_pretrained(snap)
                tokenizer.save_pretrained(snap)

        def on_log(self, args, state, control, logs=None, **kw):
            if not logs or "loss" not in logs:
                return
            now = time.monotonic()
            rate = (state.global_step - self.last_step) * chars_per_step / max(now - self.last, 1e-9)
            self.last, self.last_step = now, state.global_step
            curve["loss"].append({"step": state.global_step, "loss": logs["loss"]})
            curve["throughput"].append({"step": state.global_step, "chars_per_second": round(rate)})
            log.info("step %d: loss %.3f, %.0f characters/s", state.global_step, logs["loss"], rate)

    args = TrainingArguments(
        output_dir=str(out / "checkpoints"), per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate, warmup_steps=cfg.warmup_steps, weight_decay=cfg.weight_decay,
        lr_scheduler_type="constant_with_warmup", max_steps=cfg.max_steps, logging_steps=cfg.logging_steps,
        save_strategy="steps", save_steps=cfg.save_steps, save_total_limit=1, report_to=[],
        use_cpu=not torch.cuda.is_available(), seed=cfg.seed, dataloader_num_workers=0,
        disable_tqdm=callbacks is None, remove_unused_columns=False, bf16=cfg.bf16,
    )

    class MaskedOnlyTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            # accelerate autocasts model.forward; this loss calls the submodules itself, so it enters
            # the same autocast explicitly (without it bf16: true changed nothing)
            with self.accelerator.autocast():
                loss = masked_positions_loss(model, **inputs)[0]
            return (loss, None) if return_outputs else loss

    trainer = MaskedOnlyTrainer(model=model, args=args, train_dataset=data,
                                data_collator=WordMaskCollator(tokenizer, cfg.mlm_probability),
                                callbacks=[Budget(), *(callbacks or [])])
    started = time.monotonic()
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    minutes = (time.monotonic() - started) / 60
    if eval_batches and not any(p["step"] == trainer.state.global_step for p in curve["held_out"]):
        m = evaluate_held_out(model, eval_batches)
        curve["held_out"].append({"step": trainer.state.global_step, **m})
    write_curve()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    rates = [p["chars_per_second"] for p in curve["throughput"]]
    losses = curve["loss"]
    summary = {
        "base_model": cfg.base_model, "inputs": [str(f) for f in files], **counts,
        "characters": n_chars, "chunks": len(data), "held_out_chunks": len(held),
        "steps": trainer.state.global_step, "characters_seen": trainer.state.global_step * chars_per_step,
        "minutes_this_run": round(minutes, 1), "resumed_from": str(checkpoint) if checkpoint else None,
        "median_chars_per_second": sorted(rates)[len(rates) // 2] if rates else None,
        "final_loss": losses[-1]["loss"] if losses else None, "train_loss": result.training_loss,
        "perplexity": round(math.exp(losses[-1]["loss"]), 2) if losses else None,
        "held_out": curve["held_out"][-1] if curve["held_out"] else None,
        "held_out_start": curve["held_out"][0] if curve["held_out"] else None, "git": git_hash(),
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()},
    }
    write_json(out / "pretrain_summary.json", summary)
    return summary
