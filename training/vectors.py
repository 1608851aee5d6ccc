"""Character and character-bigram vectors from the whole corpus with word2vec: the cheapest
pretraining signal.

    mzie vectors --config configs/vectors.yaml          # → runs/char-vectors/chars.vec
    mzie vectors --config configs/bigram-vectors.yaml   # → runs/bigram-vectors/bigrams.vec

Before BERT, Chinese NER got most of its lift from character (and bigram) embeddings
trained on raw text; they cost minutes on a CPU where masked-language modelling costs
hours per pass. Here they start the encoder's embedding table (`init_vectors` in a
pretraining config), so every character — rare ones included — begins next to the
characters it is used like (县/区/市, 元/人/户) instead of at a random point.

The documents are the pretraining pipeline's own (`select_documents`: duplicates and
gold-passage records removed, the held-out slice left out), one sentence per line, one
token per non-space character (or per two adjacent non-space characters). gensim's Word2Vec
trains them (skip-gram or CBOW, negative sampling); the vectors are written in word2vec's
text format, not pickled.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from minzheng_ie.core.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VectorsConfig:
    inputs: tuple[str, ...]
    output_dir: str
    unit: str = "character"  # or "bigram": two adjacent characters with no space between them
    dim: int = 256  # characters: must equal the encoder's hidden size (scratch:small 256)
    max_vocab: int | None = None  # keep only the most frequent units (gensim's max_final_vocab)
    window: int = 5
    min_count: int = 3
    epochs: int = 3
    skip_gram: bool = True
    negative: int = 10
    exclude_manifests: tuple[str, ...] = ()
    holdout_every: int = 100  # the same held-out slice as pretraining (documents by text hash)
    dedup: bool = True
    workers: int = 2
    seed: int = 13


UNITS = ("character", "bigram")


def character_sentences(texts) -> list[list[str]]:
    return [[c for c in line if not c.isspace()] for text in texts for line in (text or "").split("\n")
            if line.strip()]


def bigram_sentences(texts) -> list[list[str]]:
    """Per line, its bigrams in order, as the tagger reads them (codec.char_bigrams)."""
    from .codec import char_bigrams

    out = []
    for text in texts:
        for line in (text or "").split("\n"):
            grams = [b for b in char_bigrams(line) if b is not None]
            if grams:
                out.append(grams)
    return out


def train_vectors(cfg: VectorsConfig) -> dict:
    try:
        from gensim.models import Word2Vec
    except ImportError as exc:
        raise InputError("mzie vectors needs gensim: pip install -e '.[pretrain]'") from exc

    from .pretrain import PretrainConfig, input_files, load_texts, select_documents
    from .report import write_json

    if cfg.unit not in UNITS:
        raise InputError(f"unit: {cfg.unit!r}; use one of {', '.join(UNITS)}")
    files = input_files(cfg.inputs)
    sel = PretrainConfig(base_model="scratch:small", inputs=cfg.inputs, output_dir=cfg.output_dir,
                         dedup=cfg.dedup, exclude_manifests=cfg.exclude_manifests, holdout_every=cfg.holdout_every)
    texts, _, counts = select_documents(load_texts(files, None, with_source=True), sel)
    sentences = (character_sentences if cfg.unit == "character" else bigram_sentences)(texts["text"])
    n_units = sum(len(s) for s in sentences)
    log.info("word2vec on %d sentences, %d %ss", len(sentences), n_units, cfg.unit)
    started = time.monotonic()
    model = Word2Vec(sentences, vector_size=cfg.dim, window=cfg.window, min_count=cfg.min_count, sg=int(cfg.skip_gram),
                     negative=cfg.negative, epochs=cfg.epochs, workers=cfg.workers, seed=cfg.seed,
                     max_final_vocab=cfg.max_vocab)
    minutes = (time.monotonic() - started) / 60
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.wv.save_word2vec_format(str(out / ("chars.vec" if cfg.unit == "character" else "bigrams.vec")), binary=False)
    summary = {"unit": cfg.unit, "units": n_units, "sentences": len(sentences), "vocabulary": len(model.wv),
               "minutes": round(minutes, 1), **counts,
               "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()}}
    write_json(out / "vectors_summary.json", summary)
    return summary


def read_vectors(path: str | Path, key: str = "init_vectors") -> dict:
    """{token: numpy vector} from a word2vec text file, in the file's order (most frequent first).
    `key`: the config key that named the file, for the error message."""
    import numpy as np

    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{key} {path}: cannot read ({exc.strerror}); run mzie vectors first") from exc
    try:
        n, dim = map(int, lines[0].split())
        out = {}
        for line in lines[1:]:
            token, *values = line.rstrip(" ").split(" ")
            if len(values) != dim:
                raise ValueError(f"line for {token!r} has {len(values)} values, expected {dim}")
            out[token] = np.asarray(values, dtype=np.float32)
    except (ValueError, IndexError) as exc:
        raise InputError(f"{key} {path}: not a word2vec text file ({exc})") from exc
    return out
