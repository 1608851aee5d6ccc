"""Masked-language-model pretraining on unlabeled reports (domain-adaptive pretraining).

The text pipeline runs on `datasets`: JSONL (plain or .gz, field `text`) and plain-text
files are read, cut into chunks of `chunk_chars` characters, and tokenized the way the
tagger sees text — one token per character via `is_split_into_words` — so what the
encoder learns here is exactly what fine-tuning feeds it.

A run stops at `max_steps` or after `max_minutes` of wall time, whichever comes first,
and the schedule is constant after warm-up, so a run cut short by its time budget is
still a well-formed model.
"""
from __future__ import annotations

import glob
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from minzheng_ie.annotation.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainConfig:
    base_model: str  # scratch:<size>, a hub id or a directory
    inputs: tuple[str, ...]  # files or globs: .txt, .jsonl, .jsonl.gz
    output_dir: str
    chunk_chars: int = 254  # + [CLS] and [SEP] = 256 positions
    min_chunk_chars: int = 32
    mlm_probability: float = 0.15
    batch_size: int = 32
    learning_rate: float = 5e-4
    warmup_steps: int = 200
    weight_decay: float = 0.01
    max_steps: int = 100_000
    max_minutes: float = 60.0
    max_documents: int | None = None  # per input file, for quick runs
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


def load_texts(files: list[Path], max_documents: int | None):
    """A datasets.Dataset with one column `text`, one row per document."""
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
        parts.append(ds)
    return datasets.concatenate_datasets(parts)


def chunk_and_tokenize(texts, tokenizer, cfg: PretrainConfig):
    def chunk(batch):
        out = []
        for text in batch["text"]:
            text = text or ""
            for i in range(0, len(text), cfg.chunk_chars):
                piece = text[i:i + cfg.chunk_chars]
                if len(piece.strip()) >= cfg.min_chunk_chars:
                    out.append(piece)
        return {"chunk": out}

    def tokenize(batch):
        enc = tokenizer([list(c) for c in batch["chunk"]], is_split_into_words=True, truncation=True,
                        max_length=cfg.chunk_chars + 2, return_special_tokens_mask=True)
        return {"input_ids": enc["input_ids"], "special_tokens_mask": enc["special_tokens_mask"]}

    chunks = texts.map(chunk, batched=True, remove_columns=texts.column_names, desc="chunking")
    return chunks.map(tokenize, batched=True, remove_columns=["chunk"], desc="tokenizing")


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
    return F.cross_entropy(logits, labels[picked])


def build_mlm_model(base_model: str):
    from transformers import BertForMaskedLM

    from .encoders import encoder_parts, is_scratch

    tokenizer, config = encoder_parts(base_model)
    if is_scratch(base_model):
        return tokenizer, BertForMaskedLM(config)
    if getattr(config, "model_type", None) != "bert":
        raise InputError(f"base_model {base_model!r}: pretraining supports BERT-architecture encoders, "
                         f"this one is {getattr(config, 'model_type', '?')!r}")
    return tokenizer, BertForMaskedLM.from_pretrained(base_model)


def pretrain(cfg: PretrainConfig, callbacks: list | None = None) -> dict:
    """Run MLM pretraining; writes the model, tokenizer, config, loss curve and a summary to output_dir."""
    import torch
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainerCallback, TrainingArguments, set_seed

    from .report import git_hash, plot_curves, write_json

    set_seed(cfg.seed)
    files = input_files(cfg.inputs)
    tokenizer, model = build_mlm_model(cfg.base_model)
    texts = load_texts(files, cfg.max_documents)
    data = chunk_and_tokenize(texts, tokenizer, cfg).shuffle(seed=cfg.seed)
    n_chars = sum(len(t or "") for t in texts["text"])
    log.info("pretraining on %d documents, %d characters, %d chunks", len(texts), n_chars, len(data))

    class TimeBudget(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            self.start = time.monotonic()

        def on_step_end(self, args, state, control, **kw):
            if time.monotonic() - self.start > cfg.max_minutes * 60:
                control.should_training_stop = True

    out = Path(cfg.output_dir)
    args = TrainingArguments(
        output_dir=str(out / "checkpoints"), per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate, warmup_steps=cfg.warmup_steps, weight_decay=cfg.weight_decay,
        lr_scheduler_type="constant_with_warmup", max_steps=cfg.max_steps, logging_steps=cfg.logging_steps,
        save_strategy="no", report_to=[], use_cpu=not torch.cuda.is_available(), seed=cfg.seed,
        dataloader_num_workers=0, disable_tqdm=callbacks is None,
    )
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=cfg.mlm_probability)
    class MaskedOnlyTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = masked_positions_loss(model, **inputs)
            return (loss, None) if return_outputs else loss

    trainer = MaskedOnlyTrainer(model=model, args=args, train_dataset=data, data_collator=collator,
                                callbacks=[TimeBudget(), *(callbacks or [])])
    started = time.monotonic()
    result = trainer.train()
    minutes = (time.monotonic() - started) / 60
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)  # Trainer's scratch folder; nothing is checkpointed
    losses = [(h["step"], h["loss"]) for h in trainer.state.log_history if "loss" in h]
    plot_curves(out / "pretrain_loss.png", {"MLM loss": losses}, "step", "loss", "Masked-language-model pretraining")
    summary = {
        "base_model": cfg.base_model, "inputs": [str(f) for f in files], "documents": len(texts),
        "characters": n_chars, "chunks": len(data), "steps": trainer.state.global_step,
        "sequences_seen": trainer.state.global_step * cfg.batch_size, "minutes": round(minutes, 1),
        "final_loss": losses[-1][1] if losses else None, "train_loss": result.training_loss,
        "perplexity": round(math.exp(losses[-1][1]), 2) if losses else None, "git": git_hash(),
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()},
    }
    write_json(out / "pretrain_summary.json", summary)
    return summary
