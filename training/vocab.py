"""The project's own character vocabulary, for encoders trained from scratch.

One entry per character the reports are written in, in a fixed order so that a
vocabulary rebuilt on any machine is identical:
  5 specials, printable ASCII (95: digits, Latin, punctuation, space excluded),
  general punctuation U+2010–U+205E (79), CJK symbols and punctuation U+3000–U+303F (64),
  full-width forms U+FF01–U+FF5E (94) and U+FFE0–U+FFE6 (7),
  CJK Unified Ideographs U+4E00–U+9FFF (20,992) — simplified and traditional alike.
Anything else (extension-block ideographs, emoji) becomes [UNK]: one token per
character still, so the codec's alignment holds.
"""
from __future__ import annotations

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
RANGES = [(0x21, 0x7E), (0x2010, 0x205E), (0x3000, 0x303F), (0xFF01, 0xFF5E), (0xFFE0, 0xFFE6), (0x4E00, 0x9FFF)]


def character_vocab() -> dict[str, int]:
    chars: list[str] = []
    seen: set[str] = set()
    for lo, hi in RANGES:
        for cp in range(lo, hi + 1):
            ch = chr(cp)
            if not ch.isspace() and ch not in seen:
                seen.add(ch)
                chars.append(ch)
    return {tok: i for i, tok in enumerate(SPECIALS + chars)}


def character_tokenizer():
    """A fast BERT tokenizer over `character_vocab()`: every character is one token.

    transformers 5 ignores `vocab_file=` in the constructor, so the vocabulary goes in as `vocab=`.
    Case is kept (do_lower_case=False): 'APP' and 'app' are different names.
    """
    from transformers import BertTokenizerFast

    return BertTokenizerFast(vocab=character_vocab(), do_lower_case=False, tokenize_chinese_chars=True,
                             strip_accents=False)
