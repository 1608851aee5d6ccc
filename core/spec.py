"""The annotation spec's mechanical rules, in one place.

Validation reports spans that break them; the rule pre-annotator trims its spans by
them; the guideline quotes them. Section names refer to ../shared/annotation-spec.md.
"""
from __future__ import annotations

import bisect
import re
import unicodedata

# "Span rules that hold for every type": no whitespace, punctuation, quotes or
# brackets at either edge. Unicode categories cover the rest of punctuation.
_EDGE_EXTRA = set("“”‘’\"'「」《》()（）【】〈〉<>[]")


def is_edge_forbidden(ch: str) -> bool:
    if ch.isspace() or ch in _EDGE_EXTRA:
        return True
    cat = unicodedata.category(ch)
    return cat.startswith("P") or cat.startswith("Z")


# Leading qualifiers and verbs stay outside figure spans; trailing 左右 / 以上 too.
FIGURE_LEADERS = ("达到", "超过", "累计", "发放", "投入", "支出", "约", "近", "达", "共")
FIGURE_TRAILERS = ("左右", "以上")
FIGURE_LABELS = frozenset({"amount", "count", "standard"})

# programme: verbs in front and a leading 国家 are outside; so are generic words after
# the name. 金 and 费 are not listed: 福彩公益金, 民政事业费 and 丧葬费 keep them.
PROGRAMME_LEADERS = ("发放", "实施", "开展", "推进", "国家")
PROGRAMME_TRAILERS = ("资金", "标准", "对象", "人员", "工作", "水平", "制度", "预算", "费用", "户")

# A sentence ends at 。！？ (and their ASCII forms) or a line break; ；and ，do not end it.
SENTENCE_END = "。！？!?\n"


def sentence_bounds(text: str) -> list[tuple[int, int]]:
    """Half-open [start, end) of every sentence, covering the whole text."""
    out, start = [], 0
    for i, ch in enumerate(text):
        if ch in SENTENCE_END:
            out.append((start, i + 1))
            start = i + 1
    if start < len(text):
        out.append((start, len(text)))
    return out


# A document, law or plan title (《…》) on one line: no programme is tagged inside one, and a
# region only with its suffix (annotation/GUIDELINES.md §6, question 2).
TITLE = re.compile(r"《[^《》\n]*》")


class Titles:
    """The 《…》 titles of a text, for asking whether a span lies inside one: titles never
    overlap, so the one to check is found by bisection."""

    def __init__(self, text: str):
        self.spans = [(m.start(), m.end()) for m in TITLE.finditer(text)]
        self.starts = [a for a, _ in self.spans]

    def around(self, start: int, end: int) -> bool:
        k = bisect.bisect_right(self.starts, start) - 1  # the last title opening at or before start
        return k >= 0 and end <= self.spans[k][1]


def sentence_index(text: str) -> list[int]:
    """For every character, the number of the sentence it belongs to."""
    idx, s = [], 0
    for ch in text:
        idx.append(s)
        if ch in SENTENCE_END:
            s += 1
    return idx


def edge_problem(span: str, label: str) -> str | None:
    """What breaks the spec's edge rules in this span text, or None."""
    if not span:
        return "the span is empty"
    if is_edge_forbidden(span[0]) or is_edge_forbidden(span[-1]):
        return "it starts or ends with whitespace, punctuation, a quotation mark or a bracket; move the edge inside"
    if label in FIGURE_LABELS:
        for w in FIGURE_LEADERS:
            if span.startswith(w) and len(span) > len(w):
                return f"the leading qualifier/verb {w!r} belongs outside the span; start it after {w!r}"
        for w in FIGURE_TRAILERS:
            if span.endswith(w):
                return f"trailing {w!r} belongs outside the span; end it before {w!r}"
    if label == "programme":
        for w in PROGRAMME_LEADERS:
            if span.startswith(w) and len(span) > len(w):
                return f"the leading {w!r} belongs outside a programme span; start it after {w!r}"
        for w in PROGRAMME_TRAILERS:
            if span.endswith(w) and len(span) > len(w):
                return f"the generic word {w!r} after the name belongs outside the span; end it before {w!r}"
    return None


_CJK = re.compile(r"[\u3400-\u9fff\U00020000-\U0003134f]")


def has_cjk(s: str) -> bool:
    return bool(_CJK.search(s))
