"""Silver data: the rule pre-annotator's labels on unlabeled text.

Two uses, one selection:
- `mzie silver --config configs/silver.yaml -o runs/silver.jsonl` writes a silver corpus
  that `mzie train` can take as its `data` — an intermediate training stage that
  teaches the model what the rules know (figures, gazetteer regions, the programme
  lexicon) before it is fine-tuned on gold;
- `silver:` inside a training config mixes silver documents into gold training with a
  loss weight.

Documents are read in order, each cut to `max_chars`, and kept when they mention the
domain often enough (`keywords`, a regular expression, at least `min_hits` matches) —
most news in the corpus is not about civil affairs, and silver from off-topic text
teaches the tagger little. Selection is deterministic: no sampling.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from minzheng_ie.core.errors import InputError
from minzheng_ie.core.record import Doc, Meta

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SilverConfig:
    inputs: tuple[str, ...] = ()  # unlabeled .txt/.jsonl(.gz) files or globs; the rule tagger labels them
    weight: float = 0.3  # loss weight of a silver window relative to a gold one (when mixed into gold)
    max_documents: int = 200  # documents kept, over all inputs
    max_chars: int = 4000  # each document is cut to this many characters
    max_total_chars: int | None = None  # stop once this many characters are kept
    keywords: str = ""  # regular expression of domain words; empty keeps every document
    min_hits: int = 1  # keyword matches a kept document needs (ignored without keywords)
    exclude_manifests: tuple[str, ...] = ()  # gold passage manifest: the records gold was cut from are never silver


def select_texts(cfg: SilverConfig) -> list[tuple[str, str]]:
    """(source, text) pairs chosen by the rules above, in input order."""
    from .pretrain import input_files, load_texts

    try:
        pattern = re.compile(cfg.keywords) if cfg.keywords else None
    except re.error as exc:
        raise InputError(f"silver.keywords {cfg.keywords!r}: not a valid regular expression ({exc})") from exc
    excluded: set[str] = set()
    if cfg.exclude_manifests:
        from minzheng_ie.annotation.passages import read_manifest

        excluded = {f"{p['file']}#{s['record']}" for m in cfg.exclude_manifests
                    for p in read_manifest(m) for s in p["segments"]}
    chosen: list[tuple[str, str]] = []
    total = 0
    for f in input_files(cfg.inputs):
        for i, text in enumerate(load_texts([f], None)["text"]):
            if f"{f.name}#{i}" in excluded:
                continue
            text = (text or "")[:cfg.max_chars]
            if not text.strip() or (pattern and len(pattern.findall(text)) < cfg.min_hits):
                continue
            chosen.append((f"{f.name}#{i}", text))
            total += len(text)
            if len(chosen) >= cfg.max_documents or (cfg.max_total_chars and total >= cfg.max_total_chars):
                log.info("silver: %d documents, %d characters", len(chosen), total)
                return chosen
    log.info("silver: %d documents, %d characters (inputs exhausted)", len(chosen), total)
    return chosen


def silver_docs(cfg: SilverConfig) -> list[Doc]:
    """The selected texts, tagged by the rule pre-annotator."""
    from minzheng_ie.annotation.rules import RuleTagger

    if not cfg.inputs:
        return []
    tagger = RuleTagger()
    return [tagger(Doc(f"silver-{i}", text, meta=Meta(extra={"corpus_document": src})))
            for i, (src, text) in enumerate(select_texts(cfg))]
