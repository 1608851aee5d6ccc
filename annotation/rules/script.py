"""A simplified-script shadow of a text, the same length, so offsets carry over.

Lexicons and the gazetteer are simplified Chinese. Traditional text is matched
through a character-by-character OpenCC conversion: a character that converts to
exactly one character is replaced, any other is kept, so `shadow[i]` always
corresponds to `text[i]`.
"""
from __future__ import annotations

from functools import cache


@cache
def _converter():
    import opencc

    return opencc.OpenCC("t2s")


@cache
def _char(ch: str) -> str:
    if ch.isascii():
        return ch
    out = _converter().convert(ch)
    return out if len(out) == 1 else ch


def simplified_shadow(text: str) -> str:
    return "".join(_char(ch) for ch in text)


@cache
def _s2t():
    import opencc

    return opencc.OpenCC("s2t")


def traditional_text(text: str) -> str:
    """`text` in traditional script, the same length, so every offset still holds.

    OpenCC's phrase-aware conversion is used when it keeps the length (it nearly always
    does: 发展→發展, 头发→頭髮); otherwise the text is converted character by character."""
    out = _s2t().convert(text)
    if len(out) == len(text):
        return out
    chars = [_s2t().convert(ch) for ch in text]
    return "".join(c if len(c) == 1 else ch for c, ch in zip(chars, text))


TRADITIONAL_SUFFIX = "#traditional"  # a traditional copy's id: its original's id with this suffix


def traditional_copy(doc, suffix: str = TRADITIONAL_SUFFIX):
    """A copy of a record in traditional script: same offsets, labels and relations."""
    from dataclasses import replace

    from minzheng_ie.core.record import Doc

    text = traditional_text(doc.text)
    return Doc(doc.id + suffix, text, entities=[replace(e, text=text[e.start:e.end]) for e in doc.entities],
               relations=list(doc.relations), meta=doc.meta)
