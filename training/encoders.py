"""Base encoders: a hub id, a local directory, or `scratch:<size>` with the character vocabulary.

    tokenizer, config = encoder_parts("scratch:small")
    tokenizer, config = encoder_parts("bert-base-chinese")      # needs the hub, or a cache
    tokenizer, config = encoder_parts("/path/to/saved/model")   # anything save_pretrained wrote

Hub ids and directories go through `from_pretrained`, the same code path either way.
"""
from __future__ import annotations

import logging
from pathlib import Path

from minzheng_ie.core.errors import InputError

from .vocab import character_tokenizer

log = logging.getLogger(__name__)

# Sizes for scratch encoders. Parameters ≈ vocab × hidden + layers × 12 × hidden²:
#   tiny:  21.2k×128 + 2×12×128²  ≈ 3.1M  (12 MB fp32) — tests and quick experiments
#   small: 21.2k×256 + 4×12×256²  ≈ 8.6M  (35 MB fp32) — the shipped default (limit 40 MB)
#   small6: 21.2k×256 + 6×12×256² ≈ 10.2M (20 MB fp16) — small's width, 1.5× its depth and fine-tuning time
#   base:  21.2k×768 + 12×12×768² ≈ 101M — as large as bert-base-chinese, for a GPU
SCRATCH_SIZES = {
    "tiny": dict(num_hidden_layers=2, hidden_size=128, num_attention_heads=2, intermediate_size=512),
    "small": dict(num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=1024),
    "small6": dict(num_hidden_layers=6, hidden_size=256, num_attention_heads=4, intermediate_size=1024),
    "base": dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=3072),
}
MAX_POSITIONS = 512


def is_scratch(base_model: str) -> bool:
    return base_model.startswith("scratch:")


def scratch_config(size: str, vocab_size: int):
    from transformers import BertConfig

    if size not in SCRATCH_SIZES:
        raise InputError(f"base_model 'scratch:{size}': unknown size; choose one of {', '.join(SCRATCH_SIZES)}")
    return BertConfig(vocab_size=vocab_size, max_position_embeddings=MAX_POSITIONS, **SCRATCH_SIZES[size])


def encoder_parts(base_model: str):
    """(tokenizer, config) for `base_model`; weights are loaded by the caller's model class."""
    if is_scratch(base_model):
        tok = character_tokenizer()
        return tok, scratch_config(base_model.split(":", 1)[1], len(tok))
    from transformers import AutoConfig, AutoTokenizer

    where = "local directory" if Path(base_model).is_dir() else "hub id"
    try:
        tok = AutoTokenizer.from_pretrained(base_model)
        config = AutoConfig.from_pretrained(base_model)
    except OSError as exc:
        raise InputError(
            f"base_model {base_model!r} ({where}) cannot be loaded: {exc}. Use a directory written by "
            f"save_pretrained, a hub id reachable from this machine, or scratch:small"
        ) from exc
    if not getattr(tok, "is_fast", False):
        raise InputError(f"base_model {base_model!r}: needs a fast tokenizer (word_ids() alignment); "
                         f"save the model with its tokenizer.json")
    return tok, config
