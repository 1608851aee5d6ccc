"""Page furniture: the website's own text that comes along when a report is saved from a page.

Government pages saved as text carry tool bars (【字体:大 中 小】 打印 收藏), "scan for the
mobile page" prompts, breadcrumbs (首页 > 新闻中心 > 民政要闻, 当前位置:…), previous/next
article links, view counters and footers (版权所有, ICP备…, 主办单位:…). Names in them are
not what the report says (主办单位:洪江市民政局 is the site's owner), so entities found
there are dropped.

`furniture_spans` finds them; the text is never changed, so its offsets refer to the
decoded input like every other offset. The detectors are deliberately narrow: a line of
the report proper must never be marked, so a phrase that prose can also use (扫一扫,
阅读量达120万次, 打印机) is furniture only in the furniture form (a line of tool words,
a label with a colon, a bracketed button). Traditional script is matched through a
same-length simplified shadow of the text (字體 → 字体, 關閉視窗 → 关闭视窗), with the
Taiwan wording (列印, 視窗, 連結, 頁首) listed beside the mainland one.
"""
from __future__ import annotations

import bisect
import logging
import re

from minzheng_ie.core.record import Doc
from .rules.script import simplified_shadow

log = logging.getLogger(__name__)

# Lines longer than this are prose however they start: a label rule must never swallow a
# paragraph (or a whole document that arrived without line breaks).
MAX_FURNITURE_LINE = 120

# -- tool words: a line made only of these (and separators) is a tool bar ---------------------
_FONT_SIZE = r"字[体号型级](?:大小)?\s*[:：]?\s*[【\[［(（]?\s*大\s*中\s*小\s*[】\]］)）]?"
_SCAN_PROMPT = (r"(?:扫一扫|扫描二维码|扫码)\s*(?:在|用)?手机(?:端|上)?(?:打开|查看|阅读|浏览)"
                r"(?:当前|本|此)?(?:页面?|文章|网页)?")
# Each of these is a button or a link of the page frame, never a clause of a report.
_TOOLS = [
    _FONT_SIZE, _SCAN_PROMPT,
    r"(?:我要|友善)?(?:打印|列印)(?:本页|此页|本文|文章|页面|本稿)?",
    r"(?:加入)?收藏(?:本页|此页|本文)?", r"关闭(?:窗口|本页|此页|页面|视窗|网页)?",
    r"(?:返回|回到)(?:顶部|页首|页顶|首页|上一页)?", r"回上一页", r"分享到?", r"转寄", r"(?:我要)?纠错",
    r"保存(?:本页|此页)?", r"背景色", r"朗读", r"相关(?:链接|连结|阅读|文章|新闻|稿件|信息)",
    r"友情链接", r"网站(?:地图|声明|导航)", r"联(?:系|络)我们", r"关于我们", r"隐私(?:声明|政策)", r"使用帮助",
    r"设为首页", r"无障碍(?:浏览|阅读)?", r"长者模式", r"关怀版", r"[繁简]体(?:版|中文)?",
]
# Share targets count only beside a tool word: alone, 微信 or 微博 could head a section.
_SHARE_TARGETS = [r"微信(?:好友|朋友圈)?", r"朋友圈", r"(?:新浪|腾讯)?微博", r"QQ(?:空间|好友)?", r"人人网",
                  r"豆瓣", r"复制链接", r"扫一扫"]
_SEPARATORS = r"\s|｜/／\\、·•●\-—_:：>＞»›→【】\[\]［］()（）〔〕<"
_TOOL = re.compile("|".join(f"(?:{p})" for p in _TOOLS), re.I)
_ANY_TOOL_WORD = re.compile("|".join(f"(?:{p})" for p in _TOOLS + _SHARE_TARGETS), re.I)
_ONLY_SEPARATORS = re.compile(f"[{_SEPARATORS}]*")

# -- labelled lines: the label says the whole line is furniture -----------------------------
_LABELLED = re.compile(
    r"(?:[您你](?:当前|现在|目前)?(?:所在)?的?|(?:当前|现在|目前)(?:所在)?的?|所在)位置\s*[:：]"  # 当前位置:
    r"|(?:上一|下一)(?:篇|条)(?:\s*[:：]|\s|$)|[上下]篇\s*[:：]"  # 上一篇:… 下一篇:…
    r"|分享到"
    r"|(?:网站)?(?:主办|承办|协办|维护|运维)(?:单位)?\s*[:：]|技术支持\s*[:：]|网站标识码"
    r"|(?:浏览|点击|阅读|访问|点阅)(?:次数|量|数|人次|率)\s*[:：]|访客(?:人次|数)\s*[:：]",
)
# Breadcrumbs: a home link, then sections after > (titles of 60 characters at most, no full stop).
_BREADCRUMB = re.compile(r"(?:网站)?(?:首页|主页)(?:\s*[>＞»›→]+\s*[^>＞»›→。！？]{1,60}?)+\s*[>＞»›→]?\s*")
# Footers: a line holding any of these is the site's, not the report's.
_FOOTER_MARK = re.compile(r"版权所有(?![人者])|copyright|©|ICP[备证]\s*\d|公网安备\s*\d", re.I)

# -- inline: furniture inside a line that also holds other text ------------------------------
_INLINE = [
    # view counters: 浏览次数:356 (a colon; prose says 阅读量达120万次, without one)
    re.compile(r"(?:浏览|点击|阅读|访问|点阅)(?:次数|量|数|人次|率)\s*[:：](?:\s*\d[\d,]*(?:\s*次)?)?"),
    # a tool word in brackets is a button: 【打印本页】【关闭窗口】 [打印]
    re.compile(f"[【\\[［]\\s*(?:{_TOOL.pattern})\\s*[】\\]］]", re.I),
    re.compile(_SCAN_PROMPT),
    re.compile(r"您是(?:本站|本网站|本网)?第\s*[\d,]+\s*位访(?:问者|客)"),
    re.compile(r"[\u4e00-\u9fff]?ICP[备证]\s*\d+号?(?:-\d+)?|[\u4e00-\u9fff]?公网安备\s*\d+号?", re.I),
]


def _is_tool_bar(line: str) -> bool:
    """Only tool words and separators, and at least one real tool word (not just 微信 微博)."""
    return bool(_TOOL.search(line)) and _ONLY_SEPARATORS.fullmatch(_ANY_TOOL_WORD.sub("", line)) is not None


def is_furniture_line(line: str) -> bool:
    """Whether a whole line (in simplified script, without its line break) is page furniture."""
    line = line.strip()
    if not line:
        return False
    if _is_tool_bar(line):
        return True
    if len(line) > MAX_FURNITURE_LINE:
        return False
    return bool(_LABELLED.match(line) or _BREADCRUMB.fullmatch(line) or _FOOTER_MARK.search(line))


def _line_spans(shadow: str, start: int, end: int) -> list[tuple[int, int]]:
    line = shadow[start:end]
    if is_furniture_line(line):
        lead = len(line) - len(line.lstrip())
        return [(start + lead, start + len(line.rstrip()))]
    return [(start + m.start(), start + m.end()) for rx in _INLINE for m in rx.finditer(line)]


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def furniture_spans(text: str) -> list[tuple[int, int]]:
    """Half-open code-point spans of page furniture in `text`, sorted and not overlapping.
    A furniture line is one span from its first to its last visible character."""
    shadow = simplified_shadow(text)  # same length as text, so offsets carry over
    spans: list[tuple[int, int]] = []
    for m in re.finditer(r"[^\r\n\f\v\u2028\u2029]+", shadow):
        spans.extend(_line_spans(shadow, m.start(), m.end()))
    return _merged(spans)


def drop_furniture(doc: Doc) -> Doc:
    """Remove, in place, the entities that overlap page furniture and every relation that
    touches a removed entity; the text is unchanged. Returns the doc."""
    spans = furniture_spans(doc.text)
    if not spans:
        return doc
    ends = [e for _, e in spans]

    def in_furniture(start: int, end: int) -> bool:
        i = bisect.bisect_right(ends, start)  # the first span ending after the entity starts
        return i < len(spans) and spans[i][0] < end

    kept = [e for e in doc.entities if not in_furniture(e.start, e.end)]
    removed = {e.id for e in doc.entities if in_furniture(e.start, e.end)}
    doc.relations = [r for r in doc.relations if r.head not in removed and r.tail not in removed]
    if len(kept) < len(doc.entities):
        log.debug("%s: dropped %d entities in page furniture", doc.id, len(doc.entities) - len(kept))
    doc.entities = kept
    return doc
