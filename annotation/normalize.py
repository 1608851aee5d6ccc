"""Normalised values for figures and regions: exact yuan, counts with units, rates, divisions.

Every amount, count and standard entity gets a JSON-serialisable `value`; every region
entity gets its gazetteer name, level and code. Numbers are exact: they are parsed
into `decimal.Decimal` (never a float) and stored as canonical decimal strings, with
no exponent and no trailing zeros ("494000000", "0.5"), so no JSON reader can round
47.22亿 on the way in.

Value shapes (the key sets are stable; a key that does not apply is null):

    amount    {"type": "amount", "yuan": "494000000", "qualifier": null, "min": null, "max": null}
    count     {"type": "count", "number": "148200", "unit": "人次", "qualifier": null, "min": null, "max": null}
    standard  {"type": "standard", "yuan": "620", "per": "person", "per_text": "人", "period": "month",
               "qualifier": null, "min": null, "max": null}
    region    {"type": "region", "name": "洪江市", "level": "county", "code": "431281"}

- Money in another currency (`572.3亿美元`) is tagged but not converted: its value is None.
- A range (`3000-5000元`, `每张床位5000元—1万元`) fills `min` and `max`; the single
  value (`yuan` / `number`) is then null.
- `qualifier` is one of QUALIFIERS or null. 余/多/来 inside the span qualify it; so do
  the words the spec keeps outside the span (约 7590万元, 超过 629万, 350万元 左右),
  which `normalise_doc` reads from the document text around the entity. 以上, 以下
  and 以内 include the number itself, as the Civil Code defines them (art. 1259:
  所称的“以上”“以下”“以内”“届满”，包括本数；所称的“不满”“超过”“以外”，不包括本数),
  so 以上 is `at_least` and 超过 is `more_than`:

      approx     约 大约 近 将近 接近 左右 上下 来 (十来个)
      more_than  余 多 超过 逾 多于 高于
      at_least   以上 不少于 不低于 至少
      at_most    以下 以内 不超过 不高于 最多
      less_than  不足 不到 不满 少于 低于

- count `unit` is the measure word or noun after the number, in simplified script
  (7164個 → 个); magnitudes inside the figure are multiplied out (88.72万人 → 887200, 人).
  A count with no measure word (24.95万) has unit null.
- standard `per` is one of PER_UNITS' codes (person, person_time, household, bed,
  student, child, couple, institution, mu, time) or null; `per_text` keeps the Chinese
  per-unit words as written, in simplified script (人, 张床位, 家庭人均), so an unknown
  unit (每个区县 → per null, per_text 个区县) is not lost. `period` is one of PERIODS'
  codes (day, week, month, quarter, half_year, year, school_year, term) or null.
  A bare list item takes its per-unit phrase from the item before it (`每人每月620元、496元`),
  and a bare figure whose clause states the phrase away from the number takes it from
  there (`月人均救助水平218元`); both need the document, so only `normalise_doc` does this.
- region `level` is province, prefecture, county or township for gazetteer divisions,
  village for named villages and communities (村, 社区; not in the gazetteer), and area
  for named multi-region areas (成渝地区). `name` is the canonical full name (酉阳 →
  酉阳土家族苗族自治县) and `code` the six-digit division code (townships have none).
  A short form resolves only when it names exactly one province, prefecture or county,
  or exactly one division inside the document's jurisdiction (`meta.jurisdiction`;
  townships by short form only inside a county jurisdiction: 黔城 in a 洪江市 report).
  A full name several divisions share (朝阳区) keeps its name and level, code null;
  anything else ambiguous or unknown (江北 with no jurisdiction, 全市) is all null.

Public API: `parse_number`, `normalise_entity`, `normalise_doc` (and `decimal_string`, the
canonical form above, for callers that hold a Decimal).
"""
from __future__ import annotations

import logging
import re
from dataclasses import replace
from decimal import Context, Decimal, DecimalException, Inexact, InvalidOperation, Rounded, localcontext
from functools import cache

from minzheng_ie.core.record import Doc, Entity
from .rules.gazetteer import Place, load_gazetteer
from .rules.regions import _derived_names, region_rules  # 芷江县 → 芷江侗族自治县, as the tagger reads it
from .rules.script import simplified_shadow
from minzheng_ie.core.spec import SENTENCE_END

log = logging.getLogger(__name__)

QUALIFIERS = ("approx", "more_than", "at_least", "at_most", "less_than")

# ---------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------

# Exact arithmetic: any rounding raises instead of silently losing a digit. 50 digits is far
# beyond any figure in a report (10^12 yuan has 13).
_EXACT = Context(prec=50, traps=[Inexact, Rounded, InvalidOperation])

_FULLWIDTH = str.maketrans("０１２３４５６７８９．，", "0123456789.,")
_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "貳": 2, "两": 2, "兩": 2, "三": 3, "叁": 3, "参": 3,
    "參": 3, "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "陸": 6, "七": 7, "柒": 7, "八": 8, "捌": 8,
    "九": 9, "玖": 9,
}
_SMALL_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_TENS = {"廿": 20, "卅": 30}  # 廿五 = 25: a ten with its digit built in
_BIG_UNITS = {"万": 10**4, "萬": 10**4, "亿": 10**8, "億": 10**8}
_ZEROS = "零〇"
_ARABIC = re.compile(r"[0-9]+(?:\.[0-9]+)?")
# 二〇二〇, 一二三: digits read one by one, with no unit anywhere
_DIGIT_STRING = re.compile(r"[〇零一二三四五六七八九]+(?:点[〇零一二三四五六七八九]+)?")
# a thousands separator: a comma with exactly three digits after it (1,234,567)
_THOUSANDS = re.compile(r"(?<=[0-9]),(?=[0-9]{3}(?![0-9]))")
_NUMBER_CHARS = frozenset("0123456789.,") | frozenset(_DIGITS) | frozenset(_SMALL_UNITS) | frozenset(_TENS) \
    | frozenset(_BIG_UNITS)


def decimal_string(d: Decimal) -> str:
    """Decimal → canonical string: no exponent, no trailing zeros (4.94E+8 → "494000000", 0.50 → "0.5")."""
    with localcontext(_EXACT):
        s = format(d.normalize(), "f")
    return "0" if s in ("-0", "0") else s


def _clean_number(text: str) -> str:
    """Full-width digits to ASCII, whitespace out (238.0 万: a space from PDF extraction), thousands separators out."""
    s = "".join(text.translate(_FULLWIDTH).split())
    return _THOUSANDS.sub("", s)


def parse_number(text: str) -> Decimal:
    """The exact value of a number phrase: Arabic (1,234.5), Chinese (两千三百万, 四亿九千四百万,
    一千零五, 二〇二〇, 三点五), financial (壹佰), traditional (億 萬 兩) or mixed (4.94亿, 1万2千),
    full-width digits and inner spaces allowed. Units of measure and qualifiers (元, 人, 余) are not
    part of a number: ValueError names the first character that does not belong."""
    s = _clean_number(text)
    if not s:
        raise ValueError(f"not a number: {text!r} is empty")
    try:
        with localcontext(_EXACT):
            value = _digit_string(s) if _DIGIT_STRING.fullmatch(s) else _positional(s, text)
            return +value  # unary plus applies the exact context: a figure beyond 50 digits raises
    except DecimalException as exc:
        raise ValueError(f"not a number: {text!r} cannot be computed exactly ({type(exc).__name__})") from exc


def _digit_string(s: str) -> Decimal:
    whole, _, frac = s.partition("点")
    digits = "".join(str(_DIGITS[c]) for c in whole)
    if frac:
        digits += "." + "".join(str(_DIGITS[c]) for c in frac)
    return Decimal(digits)


def _positional(s: str, text: str) -> Decimal:
    """Chinese place-value reading, Arabic digits allowed where a Chinese digit could stand.

    亿 closes a group: total += (everything before) × 10^8. 万 multiplies the part of the
    current 亿 group read so far (一千二百万 = 1200 × 10^4) and may occur once per group.
    十/百/千 multiply the digit before them (an omitted digit is 1: 十五, 百万) and must fall
    within a group. 零 is a placeholder. A Chinese digit right after a unit of 百 or more,
    at the very end, is the colloquial next-lower unit: 一万五 = 15000, 两千三 = 2300.
    """
    def bad(i: int, why: str) -> ValueError:
        return ValueError(f"not a number: {text!r}: {why} at {s[i:i + 1]!r} (in {s!r})")

    total = Decimal(0)  # the 亿 group, already multiplied
    section = Decimal(0)  # below 亿: a 万 part (multiplied) plus the 十/百/千 part read so far
    digit: Decimal | None = None  # a number waiting for its unit
    digit_cn = False  # `digit` is one Chinese digit (for 一万五)
    wan = False  # `section` already holds a 万 part
    last_small: int | None = None  # the last 十/百/千 in this group: 三千五百, never 五百三千
    prev_unit: int | None = None  # the unit just before `digit`, None after 零
    grouped = False  # a 十/百/千 part has been read since the last 万/亿 (0十万 is 0, not an error)
    seen = False
    i = 0
    while i < len(s):
        ch = s[i]
        m = _ARABIC.match(s, i)
        if m:
            if digit is not None:
                raise bad(i, "two numbers in a row")
            digit, digit_cn, seen = Decimal(m.group()), False, True
            i = m.end()
            continue
        if ch in _ZEROS:
            if digit is not None:
                raise bad(i, "a zero after a digit (write 二〇二〇 without units, or 二千零二十)")
            prev_unit, seen = None, True
        elif ch in _DIGITS:
            if digit is not None:
                raise bad(i, "two digits in a row")
            digit, digit_cn, seen = Decimal(_DIGITS[ch]), True, True
        elif ch == "点":
            j = i + 1
            while j < len(s) and s[j] in _DIGITS:
                j += 1
            if j == i + 1 or total or wan or (digit is not None and digit != digit.to_integral_value()):
                raise bad(i, "a decimal point 点 must follow a whole number below 万 and precede digits")
            frac = Decimal("0." + "".join(str(_DIGITS[c]) for c in s[i + 1:j]))
            digit = section + (digit or 0) + frac
            digit_cn, section, last_small, prev_unit, grouped, seen = False, Decimal(0), None, None, False, True
            i = j
            continue
        elif ch in _SMALL_UNITS or ch in _TENS:
            u = _SMALL_UNITS.get(ch, 10)
            if last_small is not None and u >= last_small:
                raise bad(i, "units out of order")
            if ch in _TENS:
                if digit is not None:
                    raise bad(i, "a digit before 廿/卅")
                section += _TENS[ch]
            else:
                section += (digit if digit is not None else 1) * u
            digit, last_small, prev_unit, grouped, seen = None, u, u, True, True
        elif ch in _BIG_UNITS:
            u = _BIG_UNITS[ch]
            if digit is None and not grouped and not (u == 10**8 and wan):  # 一万亿: 亿 multiplies the 万 part
                raise bad(i, "a magnitude with no number before it")
            group = section + (digit or 0)
            if u == 10**4:
                if wan:
                    raise bad(i, "万 twice in one 亿 group")
                section, wan = group * u, True
            else:
                if total:
                    raise bad(i, "亿 twice")
                total, section, wan = group * u, Decimal(0), False
            digit, last_small, prev_unit, grouped = None, None, u, False
        else:
            raise bad(i, "unexpected character")
        i += 1
    if not seen:
        raise ValueError(f"not a number: {text!r}")
    if digit is not None and prev_unit is not None:
        if not digit_cn:
            raise ValueError(f"not a number: {text!r}: a bare Arabic number after a unit is ambiguous ({s!r})")
        if prev_unit >= 100:
            digit *= prev_unit // 10  # 一万五: the 5 is 5千
    return total + section + (digit or 0)


# ---------------------------------------------------------------------------------------
# Qualifiers, units and per-unit phrases
# ---------------------------------------------------------------------------------------

# Longest first within each position, so 不超过 is not read as 超过.
_QUALIFIER_BEFORE = (
    ("不少于", "at_least"), ("不低于", "at_least"), ("至少", "at_least"),
    ("不超过", "at_most"), ("不高于", "at_most"), ("最多", "at_most"),
    ("超过", "more_than"), ("多于", "more_than"), ("高于", "more_than"), ("逾", "more_than"),
    ("大约", "approx"), ("将近", "approx"), ("接近", "approx"), ("约", "approx"), ("近", "approx"),
    ("不足", "less_than"), ("不到", "less_than"), ("不满", "less_than"), ("少于", "less_than"),
    ("低于", "less_than"),
)
_QUALIFIER_AFTER = (("左右", "approx"), ("上下", "approx"), ("以上", "at_least"), ("以下", "at_most"),
                    ("以内", "at_most"))
# 约 and 近 end other words: 节约资金 is no estimate, 最近 no approximation.
_NOT_QUALIFIER = ("节约", "签约", "预约", "制约", "公约", "条约", "合约", "履约", "最近", "附近")
# Verbs the spec keeps outside figure spans; tolerated at the start of a (predicted) span.
_LEADING_VERBS = ("达到", "共计", "累计", "合计", "总计", "价值", "达", "共")
_INNER_QUALIFIER = {"余": "more_than", "多": "more_than", "来": "approx"}
_RANGE = re.compile(r"—{1,2}|–|-|－|~|～|〜|至|到")
_YUAN = ("元", "圆", "块")
_PAREN = re.compile(r"[(（][^()（）]*[)）]")  # 2965家(次): a parenthetical alternate is not the unit

PER_UNITS = {
    "人次": "person_time", "人均": "person", "人": "person", "位": "person", "名": "person", "口": "person",
    "老人": "person", "老年人": "person", "户均": "household", "户": "household", "家庭": "household",
    "张床位": "bed", "床位": "bed", "张床": "bed", "床": "bed", "学生": "student", "生": "student",
    "儿童": "child", "孩子": "child", "孤儿": "child", "对": "couple", "机构": "institution", "家": "institution",
    "所": "institution", "亩": "mu", "次": "time",
}
PERIODS = {"日": "day", "天": "day", "周": "week", "月": "month", "季度": "quarter", "季": "quarter",
           "半年": "half_year", "学年": "school_year", "学期": "term", "年": "year"}
_PER_WORDS = sorted(set(PER_UNITS) | set(PERIODS), key=len, reverse=True)
_PER_SEPARATORS = re.compile(r"([每/／·・.()（）])")
# A per-unit phrase standing in the clause before a bare figure (月人均救助水平218元).
_CLAUSE_PER = re.compile(r"(?:家庭)?[月年]人均|人均[月年]?|户均"
                         r"|每(?:张床位|床位|人次|人|户|位|名|生|床|对)(?:每(?:月|年|学年|季度|天|日))?"
                         r"|每(?:月|年|学年|季度|天|日)")
_CLAUSE_BREAK = "，,；;：:" + SENTENCE_END
# Between two items of one list, or an old value and its new one: 620元、496元; 580元…提高到750元
_LIST_GAP = re.compile(r"[、，,和及与或/]?|以及"
                       r"|(?:分别)?(?:提高|提升|上调|调高|增加|增长|调整|调增|降低|下调|降)(?:到|至|为)?")


class _Figure:
    """A parsed number phrase: a single value or a range, with its qualifier and what follows it."""

    def __init__(self, value: Decimal | None, lo: Decimal | None, hi: Decimal | None, qualifier: str | None,
                 unit: str) -> None:
        self.value, self.min, self.max, self.qualifier, self.unit = value, lo, hi, qualifier, unit

    def numbers(self) -> dict:
        return {"qualifier": self.qualifier, "min": _str(self.min), "max": _str(self.max)}


def _str(d: Decimal | None) -> str | None:
    return None if d is None else decimal_string(d)


def _strip_qualifiers(s: str) -> tuple[str, str | None]:
    """Qualifier words inside a span's edges (a predicted span may hold 约 or 左右) and leading verbs."""
    qualifier = None
    for verb in _LEADING_VERBS:
        if s.startswith(verb) and len(s) > len(verb) and s[len(verb)] in _NUMBER_CHARS:
            s = s[len(verb):]
            break
    for word, q in _QUALIFIER_BEFORE:
        if s.startswith(word) and len(s) > len(word):
            s, qualifier = s[len(word):], q
            break
    for word, q in _QUALIFIER_AFTER:
        if s.endswith(word) and len(s) > len(word):
            s, qualifier = s[:-len(word)], qualifier or q
            break
    return s, qualifier


def _split_number(s: str) -> tuple[str, str, str | None]:
    """(number phrase without 余/多/来, the rest, inner qualifier): 1.27万余人次 → (1.27万, 人次, more_than)."""
    i, qualifier, kept = 0, None, []
    while i < len(s):
        ch = s[i]
        if ch in _NUMBER_CHARS or ch.isspace():
            kept.append(ch)
        elif ch == "点" and kept and i + 1 < len(s) and s[i + 1] in _DIGITS:
            kept.append(ch)
        elif ch in _INNER_QUALIFIER and kept:
            qualifier = _INNER_QUALIFIER[ch]
        else:
            break
        i += 1
    return "".join(kept), s[i:].strip(), qualifier


_MAGNITUDE_END = re.compile(r"(?:千万|百万|千亿|百亿|万亿|[十百千万亿])$")


def _parse_figure(s: str, unit_ok) -> _Figure:
    """A number phrase or a range of two, followed by a unit that `unit_ok(unit)` accepts.

    In a range the left end takes the right end's magnitude when it has none and the result
    still rises (1—2万元 = 1万—2万; 5000元—1万元 stays 5000)."""
    s, qualifier = _strip_qualifiers(s.translate(_FULLWIDTH))
    parts = _RANGE.split(s)
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"not a figure or a range of two: {s!r}")
    sides = []
    for part in parts:
        num, unit, inner = _split_number(part)
        if not num:
            raise ValueError(f"no number at the start of {part!r}")
        if not unit_ok(unit):
            raise ValueError(f"{unit!r} after the number in {s!r} is not a unit this label takes")
        sides.append((num, unit, inner))
        qualifier = qualifier if inner is None else inner
    if len(sides) == 1:
        num, unit, _ = sides[0]
        return _Figure(parse_number(num), None, None, qualifier, unit)
    (lnum, lunit, _), (rnum, runit, _) = sides
    if lunit and runit and lunit != runit:
        raise ValueError(f"the two ends of {s!r} have different units")
    hi = parse_number(rnum)
    lo = parse_number(lnum)
    mag = _MAGNITUDE_END.search(rnum)
    if mag and not _MAGNITUDE_END.search(lnum) and not lunit:
        inherited = parse_number(lnum + mag.group())
        if inherited <= hi:
            lo = inherited
    if lo > hi:
        raise ValueError(f"range {s!r} falls ({lo} > {hi})")
    return _Figure(None, lo, hi, qualifier, runit or lunit)


def _per_phrase(phrase: str) -> tuple[str | None, str | None, str | None]:
    """(per, per_text, period) of a per-unit phrase: 每人每月, 家庭月人均, /人/月, /年, 每张床位.

    The phrase splits at 每 and the slashes; each piece is per-unit and period words from
    the vocabularies. A piece after 每 or / that is not in them is an unknown per-unit, kept
    as per_text; anything else is not a per-unit phrase."""
    per = period = None
    per_text = ""
    introduced = False
    for piece in _PER_SEPARATORS.split(phrase):
        if not piece:
            continue
        if _PER_SEPARATORS.fullmatch(piece):
            introduced = piece in "每/／"
            continue
        words, j = [], 0
        while j < len(piece):
            w = next((w for w in _PER_WORDS if piece.startswith(w, j)), None)
            if w is None:
                break
            words.append(w)
            j += len(w)
        if j < len(piece):
            if not introduced:
                raise ValueError(f"{phrase!r} is not a per-unit phrase ({piece!r})")
            per, per_text = None, per_text + piece  # 每个区县: kept as written
            continue
        for w in words:
            if w in PERIODS:
                if period is not None and period != PERIODS[w]:
                    raise ValueError(f"two periods in {phrase!r}")
                period = PERIODS[w]
            else:
                per, per_text = PER_UNITS[w], per_text + w  # the last noun decides: 每名儿童 → child
    return per, per_text or None, period


def _count(s: str) -> dict:
    def unit_ok(unit: str) -> bool:
        return not unit or bool(re.fullmatch(r"[\u4e00-\u9fff]+", _PAREN.sub("", unit)))

    f = _parse_figure(simplified_shadow(s), unit_ok)
    unit = _PAREN.sub("", f.unit) or None
    return {"type": "count", "number": _str(f.value), "unit": unit, **f.numbers()}


def _money(s: str) -> _Figure:
    return _parse_figure(s, lambda unit: unit in ("",) + _YUAN)


def _amount(s: str) -> dict:
    f = _money(simplified_shadow(s))
    return {"type": "amount", "yuan": _str(f.value), **f.numbers()}


def _standard(s: str) -> dict:
    s = "".join(simplified_shadow(s).translate(_FULLWIDTH).split())
    s, qualifier = _strip_qualifiers(s)
    k = 0
    while k < len(s) and s[k] not in _NUMBER_CHARS:
        k += 1
    front, rest = s[:k], s[k:]
    cut = rest.rfind("元") + 1 or next((i for i, ch in enumerate(rest) if ch in "/／每"), len(rest))
    body, back = rest[:cut], rest[cut:]
    per = per_text = period = None
    for phrase in filter(None, (front, back)):
        p, t, q = _per_phrase(phrase)
        if (p or t) and (per or per_text) or q and period:
            raise ValueError(f"per-unit stated twice in {s!r}")
        per, per_text, period = per or p, per_text or t, period or q
    f = _money(body)
    return {"type": "standard", "yuan": _str(f.value), "per": per, "per_text": per_text, "period": period,
            "qualifier": f.qualifier or qualifier, "min": _str(f.min), "max": _str(f.max)}


# ---------------------------------------------------------------------------------------
# Regions
# ---------------------------------------------------------------------------------------

_LEVELS = {"province": "province", "city": "prefecture", "county": "county", "town": "township"}
_TOWN_SUFFIXES = ("镇", "乡", "街道")
_VILLAGE = re.compile(r"[\u4e00-\u9fff]{2,}(?:村|社区|居委会)")
# The conventional one-character abbreviations of provinces (渝陕省级界线): not in the gazetteer.
PROVINCE_ABBREVIATIONS = {
    "京": "北京市", "津": "天津市", "沪": "上海市", "渝": "重庆市", "冀": "河北省", "晋": "山西省",
    "蒙": "内蒙古自治区", "辽": "辽宁省", "吉": "吉林省", "黑": "黑龙江省", "苏": "江苏省", "浙": "浙江省",
    "皖": "安徽省", "闽": "福建省", "赣": "江西省", "鲁": "山东省", "豫": "河南省", "鄂": "湖北省",
    "湘": "湖南省", "粤": "广东省", "桂": "广西壮族自治区", "琼": "海南省", "川": "四川省", "蜀": "四川省",
    "黔": "贵州省", "贵": "贵州省", "滇": "云南省", "云": "云南省", "藏": "西藏自治区", "陕": "陕西省",
    "秦": "陕西省", "甘": "甘肃省", "陇": "甘肃省", "青": "青海省", "宁": "宁夏回族自治区",
    "新": "新疆维吾尔自治区",
}


LEVEL_ORDER = {"province": 0, "city": 1, "county": 2, "town": 3}


def _region_value(place: Place | None, name: str | None = None, level: str | None = None) -> dict:
    if place is not None:
        return {"type": "region", "name": place.name, "level": _LEVELS[place.level], "code": place.code}
    return {"type": "region", "name": name, "level": level, "code": None}


def _key(p: Place) -> tuple:
    return (p.name, p.level, p.code, p.parent, p.city)


def _inside(p: Place, root: Place) -> bool:
    """Whether `p` is `root` or lies within it. A township counts only inside a county root:
    a township goes by its short form (黔城 for 黔城镇) only in text about its own county."""
    if _key(p) == _key(root):
        return True
    if p.level == "town" and root.level != "county":
        return False
    if root.level == "province":
        return p.province == root.code
    if root.level == "city":
        return p.city == root.code
    if root.level == "county":
        return p.level == "town" and p.parent == root.name and p.city == root.city
    return False


@cache
def _scopes(jurisdiction: str | None) -> tuple[Place, ...]:
    """The jurisdiction, its prefecture and its province, narrowest first (empty when unknown)."""
    root = _resolve(simplified_shadow(jurisdiction), ()) if jurisdiction else None
    if root is None:
        return ()
    gaz = load_gazetteer()
    out = [root]
    for code in (root.city, root.province):
        up = gaz.by_code.get(code) if code else None
        if up is not None and all(_key(up) != _key(o) for o in out):
            out.append(up)
    return tuple(out)


def _in_scope(candidates: list[Place], scopes: tuple[Place, ...]) -> list[Place] | None:
    """The candidates inside the narrowest scope that holds any (None when no scope holds one)."""
    for root in scopes:
        inside = list({_key(p): p for p in candidates if _inside(p, root)}.values())
        if inside:
            return inside
    return None


def _resolve(name: str, scopes: tuple[Place, ...]) -> Place | None:
    """The one gazetteer place `name` (simplified) denotes, or None when unknown or ambiguous."""
    gaz, rules = load_gazetteer(), region_rules()
    if name in rules.stop_names:
        return None
    full = gaz.names.get(name) or ([_derived_names()[name]] if name in _derived_names() else [])
    if full:
        inside = _in_scope(full, scopes) if len(full) > 1 else full
        return inside[0] if inside and len(inside) == 1 else None
    if name in PROVINCE_ABBREVIATIONS:
        return _resolve(PROVINCE_ABBREVIATIONS[name], ())
    upper = list(gaz.aliases.get(name, [])) if name not in rules.stop_aliases else []
    towns = [p for suffix in _TOWN_SUFFIXES for p in gaz.names.get(name + suffix, []) if p.level == "town"]
    inside = _in_scope(upper + towns, scopes)
    if inside is not None:
        # 江北 in a Chongqing report: 江北区 is inside, 宁波's 江北区 is not. Where several are
        # inside, the highest level wins only if it is alone there.
        top = min(LEVEL_ORDER[p.level] for p in inside)
        best = [p for p in inside if LEVEL_ORDER[p.level] == top]
        return best[0] if len(best) == 1 else None
    upper = list({_key(p): p for p in upper}.values())
    return upper[0] if len(upper) == 1 else None


def _region(text: str, jurisdiction: str | None = None) -> dict:
    name = "".join(simplified_shadow(text).split())
    if name in region_rules().areas:
        return _region_value(None, name, "area")
    place = _resolve(name, _scopes(jurisdiction))
    if place is not None:
        return _region_value(place)
    full = [] if name in region_rules().stop_names else load_gazetteer().names.get(name, [])
    if full:
        # a full name that several divisions share (朝阳区, 大坪街道): the name is certain, and the
        # level when they share it; the code is not
        levels = {_LEVELS[p.level] for p in full}
        return _region_value(None, name, levels.pop() if len(levels) == 1 else None)
    if _VILLAGE.fullmatch(name) and not name.startswith(("农村", "城乡", "全", "本", "我", "该", "各")):
        return _region_value(None, name, "village")  # villages are not in the loaded gazetteer
    return _region_value(None)


# ---------------------------------------------------------------------------------------
# Entities and documents
# ---------------------------------------------------------------------------------------

_PARSERS = {"amount": _amount, "count": _count, "standard": _standard}


def normalise_entity(text: str, label: str, *, jurisdiction: str | None = None) -> dict | None:
    """The value of one entity from its text alone; None for labels without values (programme)
    and for text that does not parse (logged at DEBUG). `jurisdiction` helps short region names."""
    try:
        if label == "region":
            return _region(text, jurisdiction)
        parser = _PARSERS.get(label)
        return None if parser is None else parser(text)
    except ValueError as exc:
        log.debug("no %s value for %r: %s", label, text, exc)
        return None


def _context_qualifier(text: str, start: int, end: int) -> str | None:
    """约/超过/不少于 … right before the span, 左右/以上 … right after it (outside by the spec)."""
    before = simplified_shadow(text[max(0, start - 4):start]).rstrip()  # 約, 超過, 不少於 read as simplified
    if not before.endswith(_NOT_QUALIFIER):
        for word, q in _QUALIFIER_BEFORE:
            if before.endswith(word):
                return q
    after = simplified_shadow(text[end:end + 4]).lstrip()
    return next((q for word, q in _QUALIFIER_AFTER if after.startswith(word)), None)


def _clause_per(text: str, lo: int, start: int) -> tuple[str | None, str | None, str | None] | None:
    """The last per-unit phrase in text[lo:start] that its clause shares with the figure."""
    clause = text[lo:start]
    cut = max(clause.rfind(c) for c in _CLAUSE_BREAK)
    clause = simplified_shadow(clause[cut + 1:])
    found = list(_CLAUSE_PER.finditer(clause))
    if not found:
        return None
    try:
        return _per_phrase(found[-1].group())
    except ValueError:
        return None


def normalise_doc(doc: Doc) -> Doc:
    """Set `value` on every amount, count, standard and region entity of `doc`, in place; returns doc.

    Beyond `normalise_entity` it reads the text around each figure: qualifiers the spec keeps
    outside the span, and the per-unit phrase of a bare standard — from the list item or old
    value before it (每人每月620元、496元; 从每人每月580元提高到750元) or from its own clause
    (月人均救助水平218元). Never raises on an entity: an unparseable one gets value None."""
    text = doc.text
    order = sorted(range(len(doc.entities)), key=lambda k: doc.entities[k].start)
    prev_standard: Entity | None = None
    prev_figure_end = 0
    for k in order:
        e = doc.entities[k]
        if e.label not in ("amount", "count", "standard", "region"):
            continue
        value = normalise_entity(e.text, e.label, jurisdiction=doc.meta.jurisdiction)
        if value is not None and e.label != "region":
            value["qualifier"] = value["qualifier"] or _context_qualifier(text, e.start, e.end)
        if value is not None and e.label == "standard" and value["per"] is None and value["per_text"] is None:
            # what the figure does not say itself (349元/月 says the period, not 人均) comes from the
            # list item before it or its own clause; what it says is kept
            inherited = _inherit(text, prev_standard, e) or _clause_per(text, prev_figure_end, e.start)
            if inherited:
                value["per"], value["per_text"] = inherited[0], inherited[1]
                value["period"] = value["period"] or inherited[2]
        doc.entities[k] = e = replace(e, value=value)
        if e.label == "standard":
            prev_standard = e
        if e.label != "region":
            prev_figure_end = e.end
    return doc


def _inherit(text: str, prev: Entity | None, e: Entity) -> tuple | None:
    """(per, per_text, period) of the standard before `e` when only a list separator or a change
    verb stands between them in one sentence."""
    if prev is None or prev.value is None or prev.end > e.start:
        return None
    gap = "".join(simplified_shadow(text[prev.end:e.start]).split())
    if any(c in SENTENCE_END for c in text[prev.end:e.start]) or not _LIST_GAP.fullmatch(gap):
        return None
    v = prev.value
    if v["per"] is None and v["period"] is None and v["per_text"] is None:
        return None
    return v["per"], v["per_text"], v["period"]
