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
