"""Pretraining from a packed corpus, for an accelerator: the token stream lives on the device.

Two steps, one config (configs/pretrain-gpu.yaml):

    mzie pretrain-pack   --config configs/pretrain-gpu.yaml   # here: documents → one .npz
    mzie pretrain-packed --config configs/pretrain-gpu.yaml   # there: the training loop

Why a second loop beside `mzie pretrain`. On a GPU the 4-layer encoder's step is a few
milliseconds, and the Trainer path spends longer than that in Python per batch: padding
lists, jieba-derived word starts collated row by row. Here everything per step is a tensor
operation on the device — windows cut from the stream, whole-word masking
(`pretrain.mask_whole_words`, the same function the CPU collator calls), the forward and
backward pass — so the GPU is never waiting for the host. Packing needs the text pipeline
(`datasets`, jieba); the loop needs only torch, transformers and numpy, which is what a
bare GPU machine has.

The pack. Documents are selected exactly as `mzie pretrain` selects them (duplicates,
the records gold passages came from and the held-out slice left out), tokenized the way
the tagger sees text (one token per character, `is_split_into_words`), and concatenated
into one uint16 stream (the vocabulary has 21,331 entries < 2^16) with a word-start bit
per token from jieba. The held-out evaluation batches are those `mzie pretrain` scores
(`held_out_batches` over `eval_inputs` at `eval_chunk_chars`), so accuracies on both paths
are one curve.

The loop. Each step draws `batch_size` windows of `chunk_chars` tokens at uniformly random
offsets of the stream: with ~10–30M tokens and ~100 passes over them a fixed chunking would
show the model the same 126-character pieces a hundred times, a random offset almost never.
Documents are separated by [SEP] and a window may cross one, as RoBERTa's FULL-SENTENCES
input does. Schedule: linear warm-up, constant, then a linear decay to zero over the last
`decay_fraction` of the budget (warmup-stable-decay). The budget is `max_steps` or
`max_minutes`, whichever is nearer, so a time-limited run still ends on a decayed learning
rate — the part of the schedule that buys most of the final loss.

Resuming. Every `save_minutes` the weights, the Adam moments, the step, the elapsed time and
the random state are written to `output_dir/checkpoint/` (safetensors and JSON, no pickle);
`--resume` continues from there with the same budget.

Budget arithmetic (scratch:small, 3.2M dense parameters): a 512 × 256-token step is
6 × 3.2M × 131k ≈ 2.5 TFLOP; at even 10% of an H200's bf16 rate that is ~30 ms, ~4M
tokens/s: 7 minutes see ~1.7B tokens, 60 passes over 30M characters. On 2 CPU cores the
same step takes ~40 s; `mzie pretrain` (126-character chunks) is the CPU path.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

from minzheng_ie.core.errors import InputError

log = logging.getLogger(__name__)

PACK_FORMAT = 1


@dataclass(frozen=True)
class PackedPretrainConfig:
    # packing (mzie pretrain-pack)
    inputs: tuple[str, ...]  # corpus files or globs: .txt, .jsonl, .jsonl.gz
    pack: str  # the .npz both steps use
    eval_inputs: tuple[str, ...] = ()  # held-out batches come from these files' held-out documents; () = inputs
    exclude_manifests: tuple[str, ...] = ()
    holdout_every: int = 100
    dedup: bool = True
    eval_chunk_chars: int = 126  # as configs/pretrain.yaml, so the accuracy continues its curve
    eval_chunks: int = 1024
    max_documents: int | None = None  # per input file, for quick runs
    # training (mzie pretrain-packed)
    output_dir: str = "runs/pretrain-gpu"
    base_model: str = "scratch:small"
    init_vectors: str | None = None
    sources: tuple[str, ...] = ()  # input file names to train on (as packed); () = all
    chunk_chars: int = 254  # window length; + [CLS] and [SEP] = 256 positions, the tagger's window
    batch_size: int = 512
    mlm_probability: float = 0.15
    masking: str = "whole_word"  # whole_word | token
    learning_rate: float = 1e-3
    warmup_steps: int = 300
    decay_fraction: float = 0.2  # the last fifth of the budget decays the learning rate to 0
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    max_steps: int = 1_000_000
    max_minutes: float = 7.0
    eval_steps: int = 500
    save_minutes: float = 10.0  # checkpoint for --resume this often
    logging_steps: int = 100
    bf16: bool = True
    device: str | None = None  # cuda if available, else cpu
    save_dtype: str = "float16"  # the encoder is shipped in fp16 (models/minzheng-encoder-small)
    max_shard_size: str = "15MB"  # save_pretrained shards, so each file fits a size-limited transfer
    seed: int = 13


def _pretrain_config(cfg: PackedPretrainConfig, inputs, chunk_chars: int):
    """The `mzie pretrain` config whose document selection and held-out batches the pack reproduces."""
    from .pretrain import PretrainConfig

    return PretrainConfig(base_model=cfg.base_model, inputs=tuple(inputs), output_dir=cfg.output_dir,
                          chunk_chars=chunk_chars, max_documents=cfg.max_documents, dedup=cfg.dedup,
                          exclude_manifests=cfg.exclude_manifests, holdout_every=cfg.holdout_every,
                          eval_chunks=cfg.eval_chunks, seed=cfg.seed, mlm_probability=cfg.mlm_probability)


def _stream(texts, sources: list[str], tokenizer):
    """(ids uint16, word-start bool, document offsets, document source index) for `texts`."""
    import numpy as np

    from .codec import load_jieba

    jieba = load_jieba("pretrain-pack (it marks word starts)")
    names = [s.split("#", 1)[0] for s in texts["source"]]
    index = {n: i for i, n in enumerate(sources)}
    ids_parts, start_parts, offsets, doc_source = [], [], [0], []
    for text, name in zip(texts["text"], names):
        enc = tokenizer(list(text), is_split_into_words=True, add_special_tokens=False)
        char_start = np.zeros(len(text), dtype=bool)
        lengths = np.fromiter((len(w) for w in jieba.cut(text, HMM=False)), dtype=np.int64)
        char_start[np.cumsum(lengths) - lengths] = True
        word_ids = np.asarray(enc.word_ids(), dtype=np.int64)  # token → character (spaces give no token)
        ids = np.asarray(enc["input_ids"], dtype=np.uint16)
        if not len(ids):
            continue
        starts = char_start[word_ids]
        starts[0] = True
        ids_parts.append(ids)
        start_parts.append(starts)
        offsets.append(offsets[-1] + len(ids))
        doc_source.append(index[name])
    cat = (lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dtype=dt))
    return (cat(ids_parts, np.uint16), cat(start_parts, bool), np.asarray(offsets, dtype=np.int64),
            np.asarray(doc_source, dtype=np.uint8))


def pack_corpus(cfg: PackedPretrainConfig) -> dict:
    """Write the pack: the training token stream with word starts, and the fixed held-out batches."""
    import numpy as np
    import torch

    from .pretrain import held_out_batches, held_out_chunks, input_files, load_texts, select_documents
    from .vocab import character_tokenizer

    files = input_files(cfg.inputs)
    if len({f.name for f in files}) != len(files):
        raise InputError("pretrain-pack: two inputs share a file name; sources are chosen by name, rename one")
    if len(files) > 255:  # a document's source is stored in one byte
        raise InputError(f"pretrain-pack: {len(files)} input files, at most 255; concatenate some into one JSONL")
    tokenizer = character_tokenizer()
    pcfg = _pretrain_config(cfg, cfg.inputs, cfg.eval_chunk_chars)
    texts, _, counts = select_documents(load_texts(files, cfg.max_documents, with_source=True), pcfg)
    sources = [f.name for f in files]
    ids, starts, offsets, doc_source = _stream(texts, sources, tokenizer)

    # the held-out batches, exactly as `mzie pretrain` builds them from eval_inputs
    eval_files = input_files(cfg.eval_inputs or cfg.inputs)
    ecfg = _pretrain_config(cfg, cfg.eval_inputs or cfg.inputs, cfg.eval_chunk_chars)
    _, held_texts, _ = select_documents(load_texts(eval_files, cfg.max_documents, with_source=True), ecfg)
    held = held_out_chunks(held_texts, tokenizer, ecfg)
    batches = held_out_batches(held, tokenizer, ecfg) if len(held) else []
    width = cfg.eval_chunk_chars + 2
    stacked = {}
    for key, fill in (("input_ids", tokenizer.pad_token_id), ("attention_mask", 0), ("labels", -100)):
        rows = [torch.nn.functional.pad(b[key], (0, width - b[key].shape[1]), value=fill) for b in batches]
        stacked[key] = (torch.cat(rows) if rows else torch.zeros(0, width, dtype=torch.long)).numpy().astype(np.int32)
    meta = {"format": PACK_FORMAT, "vocab_size": len(tokenizer), "sources": sources,
            "tokens": int(len(ids)), "documents": int(len(doc_source)), **counts,
            "tokens_by_source": {s: int(sum(offsets[i + 1] - offsets[i] for i in np.flatnonzero(doc_source == k)))
                                 for k, s in enumerate(sources)},
            "eval_held_out_documents": len(held_texts), "eval_held_out_chunks": len(held),
            "eval_inputs": [str(f) for f in eval_files], "eval_chunk_chars": cfg.eval_chunk_chars}
    out = Path(cfg.pack)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, ids=ids, word_start=np.packbits(starts), doc_offsets=offsets, doc_source=doc_source,
                        eval_input_ids=stacked["input_ids"], eval_attention_mask=stacked["attention_mask"],
                        eval_labels=stacked["labels"], meta=np.asarray(json.dumps(meta, ensure_ascii=False)))
    tmp.replace(out)
    log.info("packed %d tokens of %d documents and %d held-out chunks into %s (%.1f MB)",
             meta["tokens"], meta["documents"], len(held), out, out.stat().st_size / 1e6)
    return {**meta, "pack": str(out), "bytes": out.stat().st_size}


def read_pack(path: str | Path) -> dict:
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise InputError(f"pack {path} does not exist; write it first with `mzie pretrain-pack --config <the same config>`")
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    meta = json.loads(str(data.pop("meta")))
    if meta.get("format") != PACK_FORMAT:
        raise InputError(f"pack {path}: format {meta.get('format')}, this code reads {PACK_FORMAT}; repack it")
    n = int(data["doc_offsets"][-1])
    data["word_start"] = np.unpackbits(data["word_start"], count=n).astype(bool)
    data["meta"] = meta
    return data


def build_stream(pack: dict, sources: tuple[str, ...], sep_id: int):
    """The training stream of the chosen sources: documents joined by [SEP] (numpy int64, bool)."""
    import numpy as np

    names = pack["meta"]["sources"]
    unknown = [s for s in sources if s not in names]
    if unknown:
        raise InputError(f"sources {unknown}: not in the pack, which holds {names}; name packed input files")
    keep = {names.index(s) for s in sources} if sources else set(range(len(names)))
    offsets, ids, starts = pack["doc_offsets"], pack["ids"], pack["word_start"]
    docs = [d for d in range(len(pack["doc_source"])) if int(pack["doc_source"][d]) in keep]
    if not docs:
        raise InputError("the chosen sources hold no documents; check `sources` against the pack's inputs")
    parts_ids, parts_starts = [], []
    for d in docs:
        a, b = int(offsets[d]), int(offsets[d + 1])
        parts_ids += [ids[a:b].astype(np.int64), np.asarray([sep_id])]
        parts_starts += [starts[a:b], np.asarray([True])]
    return np.concatenate(parts_ids), np.concatenate(parts_starts), len(docs)


def sample_batch(stream, starts, batch_size: int, window: int, tok_ids: dict, generator, probability: float,
                 vocab_size: int, whole_words: bool = True):
    """A masked batch of `batch_size` random windows: [CLS] window [SEP], all full length, no padding."""
    import torch

    device = stream.device
    offset = torch.randint(0, stream.numel() - window + 1, (batch_size, 1), generator=generator, device=device)
    pos = offset + torch.arange(window, device=device)
    body = stream[pos]
    cls = torch.full((batch_size, 1), tok_ids["cls"], device=device, dtype=body.dtype)
    sep = torch.full((batch_size, 1), tok_ids["sep"], device=device, dtype=body.dtype)
    ids = torch.cat([cls, body, sep], 1)
    special = ids == tok_ids["sep"]  # the closing [SEP] and document separators inside the window
    special[:, 0] = True
    if whole_words:
        word_starts = starts[pos].clone()
        word_starts[:, 0] = True  # a window can open mid-word
        one = torch.ones((batch_size, 1), dtype=torch.bool, device=device)
        word_starts = torch.cat([one, word_starts, one], 1).long()
    else:
        word_starts = torch.ones_like(ids)
    from .pretrain import mask_whole_words

    ids, labels = mask_whole_words(ids, special, word_starts, probability, tok_ids["mask"], vocab_size, generator)
    return {"input_ids": ids, "labels": labels}


def learning_rate(cfg: PackedPretrainConfig, step: int, elapsed_s: float) -> float:
    """Warm-up, constant, linear decay over the last `decay_fraction` of the budget (steps or time)."""
    done = max(step / cfg.max_steps, elapsed_s / (cfg.max_minutes * 60))
    warm = min(1.0, (step + 1) / max(cfg.warmup_steps, 1))
    decay = min(1.0, max(0.0, 1.0 - done) / cfg.decay_fraction) if cfg.decay_fraction > 0 else 1.0
    return cfg.learning_rate * warm * decay


def _optimizer(model, cfg: PackedPretrainConfig, fused: bool):
    import torch

    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # betas and eps as RoBERTa: 0.98 is steadier than 0.999 with large batches and a short warm-up
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(0.9, 0.98), eps=1e-6, fused=fused)


def _save_checkpoint(path: Path, model, opt, generator, state: dict) -> None:
    """Weights, Adam moments and the random states as safetensors; the rest as JSON."""
    import torch
    from safetensors.torch import save_file

    from .report import write_json

    path.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    params = [p for g in opt.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        s = opt.state.get(p, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in s:
                tensors[f"adam.{i}.{key}"] = s[key].contiguous()
    # the window sampler's generator, and the global generators dropout draws from
    tensors["rng"] = generator.get_state().to("cpu")
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    # tied weights (decoder = word embeddings) appear twice in state_dict; safetensors wants one storage each
    seen: dict[int, str] = {}
    for k in list(tensors):
        ptr = tensors[k].data_ptr()
        if ptr in seen and tensors[k].numel():
            tensors[k] = tensors[k].clone()
        seen[ptr] = k
    save_file({k: v.to("cpu") for k, v in tensors.items()}, str(path / "state.safetensors"))
    steps = {str(i): int(opt.state[p]["step"]) for i, p in enumerate(params) if "step" in opt.state.get(p, {})}
    write_json(path / "state.json", {**state, "adam_steps": steps})


def _load_checkpoint(path: Path, model, opt, generator) -> dict:
    import torch
    from safetensors.torch import load_file

    tensors = load_file(str(path / "state.safetensors"))
    state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    params = [p for g in opt.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        if f"adam.{i}.exp_avg" in tensors:
            step = torch.tensor(float(state["adam_steps"][str(i)]), dtype=torch.float32,
                                device=p.device if opt.defaults.get("fused") else "cpu")
            opt.state[p] = {"step": step, "exp_avg": tensors[f"adam.{i}.exp_avg"].to(p.device),
                            "exp_avg_sq": tensors[f"adam.{i}.exp_avg_sq"].to(p.device)}
    generator.set_state(tensors["rng"].to(torch.uint8))
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    return state


def pretrain_packed(cfg: PackedPretrainConfig, resume: bool = False) -> dict:
    """Train the MLM encoder on the pack; writes the model (sharded), the curve and a summary."""
    import numpy as np
    import torch

    from .pretrain import build_mlm_model, evaluate_held_out, masked_positions_loss
    from .report import git_hash, plot_curves, write_json

    if cfg.masking not in ("token", "whole_word"):
        raise InputError(f"masking {cfg.masking!r}: choose token or whole_word")
    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(cfg.seed)
    out = Path(cfg.output_dir)
    ckpt = out / "checkpoint"
    if resume and not (ckpt / "state.json").is_file():
        raise InputError(f"--resume: no checkpoint in {ckpt}; start without --resume")
    pack = read_pack(cfg.pack)
    tokenizer, model = build_mlm_model(cfg.base_model, None if resume else cfg.init_vectors)
    if model.config.vocab_size != pack["meta"]["vocab_size"]:
        raise InputError(f"pack {cfg.pack} was tokenized with {pack['meta']['vocab_size']} entries, "
                         f"{cfg.base_model} has {model.config.vocab_size}; repack with this encoder's vocabulary")
    stream_np, starts_np, n_docs = build_stream(pack, cfg.sources, tokenizer.sep_token_id)
    if len(stream_np) <= cfg.chunk_chars:
        raise InputError(f"the stream has {len(stream_np)} tokens, fewer than one {cfg.chunk_chars}-token window")
    stream = torch.from_numpy(stream_np).to(device)
    starts = torch.from_numpy(starts_np).to(device)
    tok_ids = {"cls": tokenizer.cls_token_id, "sep": tokenizer.sep_token_id, "mask": tokenizer.mask_token_id}
    evals = [{k: torch.from_numpy(pack[f"eval_{k}"][i:i + 64].astype(np.int64)).to(device)
              for k in ("input_ids", "attention_mask", "labels")}
             for i in range(0, len(pack["eval_input_ids"]), 64)]
    model.to(device).train()
    opt = _optimizer(model, cfg, fused=device.type == "cuda")
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    state = {"step": 0, "elapsed_s": 0.0, "curve": {"held_out": [], "loss": [], "throughput": []}}
    if resume:
        state = _load_checkpoint(ckpt, model, opt, generator)
        log.info("resumed at step %d (%.1f minutes done)", state["step"], state["elapsed_s"] / 60)
    curve = state["curve"]
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16)
    tokens_per_step = cfg.batch_size * (cfg.chunk_chars + 2)
    log.info("pretraining %s on %d tokens of %d documents (%s) on %s: %d windows of %d per step",
             cfg.base_model, len(stream_np), n_docs, ", ".join(cfg.sources) or "all sources", device,
             cfg.batch_size, cfg.chunk_chars)

    def evaluate(step: int) -> None:
        if not evals:
            return
        point = {"step": step, **evaluate_held_out(model, evals)}  # fp32, as `mzie pretrain` scores it
        curve["held_out"].append(point)
        log.info("step %d: held-out masked-character accuracy %.4f, loss %.3f", step, point["accuracy"], point["loss"])

    step, before = state["step"], state["elapsed_s"]
    if not curve["held_out"]:
        evaluate(step)
    started = last_save = last_log = time.monotonic()
    last_step, loss_acc = step, torch.zeros((), device=device)
    while True:
        elapsed = before + time.monotonic() - started
        if step >= cfg.max_steps or elapsed >= cfg.max_minutes * 60:
            break
        lr = learning_rate(cfg, step, elapsed)
        for g in opt.param_groups:
            g["lr"] = lr
        batch = sample_batch(stream, starts, cfg.batch_size, cfg.chunk_chars, tok_ids, generator,
                             cfg.mlm_probability, len(tokenizer), cfg.masking == "whole_word")
        with autocast:
            loss = masked_positions_loss(model, **batch)[0]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        loss_acc += loss.detach()
        if step % cfg.logging_steps == 0:
            now = time.monotonic()
            mean_loss = float(loss_acc) / (step - last_step)  # the one host sync per logging interval
            rate = (step - last_step) * tokens_per_step / (now - last_log)
            curve["loss"].append({"step": step, "loss": mean_loss, "lr": lr})
            curve["throughput"].append({"step": step, "tokens_per_second": round(rate)})
            log.info("step %d: loss %.3f, lr %.2e, %.0f tokens/s", step, mean_loss, lr, rate)
            last_log, last_step, loss_acc = now, step, torch.zeros((), device=device)
        if step % cfg.eval_steps == 0:
            evaluate(step)
        if time.monotonic() - last_save > cfg.save_minutes * 60:
            _save_checkpoint(ckpt, model, opt, generator,
                             {"step": step, "elapsed_s": before + time.monotonic() - started, "curve": curve})
            last_save = time.monotonic()
    elapsed = before + time.monotonic() - started
    if not curve["held_out"] or curve["held_out"][-1]["step"] != step:
        evaluate(step)
    _save_checkpoint(ckpt, model, opt, generator, {"step": step, "elapsed_s": elapsed, "curve": curve})
    model.to(dtype=getattr(torch, cfg.save_dtype)).save_pretrained(out, max_shard_size=cfg.max_shard_size)
    tokenizer.save_pretrained(out)
    write_json(out / "pretrain_curve.json", curve)
    plot_curves(out / "pretrain_curve.png",
                {"train MLM loss": [(p["step"], p["loss"]) for p in curve["loss"]],
                 "held-out MLM loss": [(p["step"], p["loss"]) for p in curve["held_out"]]},
                "step", "loss", "Packed pretraining (held-out: fixed mask)")
    rates = sorted(p["tokens_per_second"] for p in curve["throughput"])
    summary = {
        "base_model": cfg.base_model, "pack": cfg.pack, "sources": list(cfg.sources) or pack["meta"]["sources"],
        "stream_tokens": int(len(stream_np)), "documents": n_docs, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "steps": step, "tokens_seen": step * tokens_per_step, "passes": round(step * tokens_per_step / len(stream_np), 2),
        "minutes": round(elapsed / 60, 2), "median_tokens_per_second": rates[len(rates) // 2] if rates else None,
        "final_loss": curve["loss"][-1]["loss"] if curve["loss"] else None,
        "held_out": curve["held_out"][-1] if curve["held_out"] else None,
        "held_out_start": curve["held_out"][0] if curve["held_out"] else None,
        "git": git_hash(), "torch": torch.__version__,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()},
    }
    write_json(out / "pretrain_summary.json", summary)
    return summary
