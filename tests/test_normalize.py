"""The normaliser: exact numbers, figure values, per-unit phrases, list inheritance, regions."""
from __future__ import annotations

import copy
import json
import logging
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minzheng_ie.annotation import markup
from minzheng_ie.annotation.normalize import (QUALIFIERS, decimal_string, normalise_doc, normalise_entity,
                                              parse_number)
from minzheng_ie.core.record import RECORD_JSON_SCHEMA, Doc

FIGURES = ("amount", "count", "standard")


def amount(yuan=None, qualifier=None, lo=None, hi=None) -> dict:
    return {"type": "amount", "yuan": yuan, "qualifier": qualifier, "min": lo, "max": hi}


def count(number=None, unit=None, qualifier=None, lo=None, hi=None) -> dict:
    return {"type": "count", "number": number, "unit": unit, "qualifier": qualifier, "min": lo, "max": hi}


def standard(yuan=None, per=None, per_text=None, period=None, qualifier=None, lo=None, hi=None) -> dict:
    return {"type": "standard", "yuan": yuan, "per": per, "per_text": per_text, "period": period,
            "qualifier": qualifier, "min": lo, "max": hi}


def region(name=None, level=None, code=None) -> dict:
    return {"type": "region", "name": name, "level": level, "code": code}


# ---------------------------------------------------------------------------------------
# parse_number
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("4.94亿", "494000000"),
    ("14.82万", "148200"),
    ("858.5万", "8585000"),
    ("0.5", "0.5"),
    ("1,234", "1234"),
    ("1,234,567.89", "1234567.89"),
    ("238.0 万", "2380000"),  # a space inside the figure, from PDF extraction
    ("两千三百万", "23000000"),
    ("一百二十三万", "1230000"),
    ("四亿九千四百万", "494000000"),
    ("一千零五", "1005"),
    ("十万零五百", "100500"),
    ("一亿零一百万", "101000000"),
    ("一万亿", "1000000000000"),
    ("十", "10"),
    ("十五", "15"),
    ("百万", "1000000"),
    ("千万", "10000000"),
    ("二〇二〇", "2020"),
    ("零", "0"),
    ("〇", "0"),
    ("三点五", "3.5"),
    ("四点九四亿", "494000000"),
    ("零点五", "0.5"),
    ("一万五", "15000"),  # colloquial: the trailing digit is the next lower unit
    ("两千三", "2300"),
    ("一千二百三", "1230"),
    ("壹佰贰拾叁", "123"),
    ("贰仟万", "20000000"),
    ("廿五", "25"),
    ("6.16億", "616000000"),
    ("3.77萬", "37700"),
    ("兩千萬", "20000000"),
    ("貳拾參萬", "230000"),
    ("１２３", "123"),
    ("４．９４亿", "494000000"),
    ("１，２３４", "1234"),
    ("1万2千", "12000"),
    ("2亿3456万", "234560000"),
    ("1.5万亿", "1500000000000"),
])
def test_parse_number(text, expected):
    assert decimal_string(parse_number(text)) == expected
    assert parse_number(text) == Decimal(expected)


@pytest.mark.parametrize("text", ["", "  ", "元", "万", "亿", "4.94亿元", "abc", "五百三千", "三万万", "一亿亿",
                                  "1,23", "1万5", "三五百", "3..5", "-5", "1e5"])
def test_parse_number_rejects(text):
    with pytest.raises(ValueError, match="not a number"):
        parse_number(text)


def test_parse_number_is_exact_beyond_float_precision():
    # 0.1 + 0.2 style error and 17-digit truncation would both show here
    assert parse_number("12345678901.23亿") == Decimal("1234567890123000000")
    assert decimal_string(parse_number("0.01万")) == "100"
    assert decimal_string(parse_number("3.3")) == "3.3"


def test_decimal_string_is_canonical():
    assert decimal_string(Decimal("4.94E+8")) == "494000000"
    assert decimal_string(Decimal("0.50")) == "0.5"
    assert decimal_string(Decimal("100.00")) == "100"
    assert decimal_string(Decimal("0E-3")) == "0"


# ---------------------------------------------------------------------------------------
# hypothesis round trips: value → rendering → parse_number → the same value
# ---------------------------------------------------------------------------------------

CN_DIGITS = "零一二三四五六七八九"


def _below_10000(n: int) -> str:
    """A section of up to four digits with 零 for inner gaps: 1005 → 一千零五, 1010 → 一千零一十."""
    out, gap, started = "", False, False
    for d, unit in zip((n // 1000, n // 100 % 10, n // 10 % 10, n % 10), ("千", "百", "十", "")):
        if d == 0:
            gap = gap or started
            continue
        if gap:
            out += "零"
            gap = False
        out += CN_DIGITS[d] + unit
        started = True
    return out


def _render(n: int) -> str:
    if n < 10**4:
        return _below_10000(n)
    size, unit = (10**8, "亿") if n >= 10**8 else (10**4, "万")
    hi, lo = divmod(n, size)
    s = _render(hi) + unit
    if lo:
        # a gap right below the unit is spoken: 一万零五, 一亿零一百万
        s += ("零" if lo < size // 10 else "") + _render(lo)
    return s


def chinese(n: int) -> str:
    """The conventional Chinese numeral: 0 → 零, 15 → 十五, 100000 → 十万, 10005 → 一万零五."""
    if n == 0:
        return "零"
    s = _render(n)
    return s[1:] if s.startswith("一十") else s


def test_renderer_matches_known_forms():
    cases = {0: "零", 7: "七", 10: "十", 15: "十五", 110: "一百一十", 1005: "一千零五", 10010: "一万零一十",
             100000: "十万", 110000: "十一万", 23000000: "二千三百万", 101000000: "一亿零一百万",
             100010000: "一亿零一万", 494000000: "四亿九千四百万", 10**12: "一万亿"}
    assert {n: chinese(n) for n in cases} == cases


FINANCIAL = str.maketrans("一二三四五六七八九十百千", "壹贰叁肆伍陆柒捌玖拾佰仟")
TRADITIONAL = str.maketrans("万亿两", "萬億兩")
FULLWIDTH = str.maketrans("0123456789.,", "０１２３４５６７８９．，")


def _liang(s: str) -> str:
    """二 before a unit of 百 or more is conventionally 两: 两千, 两万, 两亿."""
    out = []
    for i, ch in enumerate(s):
        prev_is_unit_or_start = i == 0 or s[i - 1] in "零万亿"
        out.append("两" if ch == "二" and prev_is_unit_or_start and s[i + 1:i + 2] in ("千", "百", "万", "亿")
                   else ch)
    return "".join(out)


@settings(max_examples=300)
@given(n=st.integers(0, 10**12), style=st.sampled_from(["plain", "liang", "financial", "traditional"]))
def test_chinese_numerals_round_trip(n, style):
    s = chinese(n)
    if style == "liang":
        s = _liang(s)
    elif style == "financial":
        s = s.translate(FINANCIAL)
    elif style == "traditional":
        s = _liang(s).translate(TRADITIONAL)
    assert parse_number(s) == n, s


MAGNITUDES = {"": 1, "百": 100, "千": 1000, "万": 10**4, "十万": 10**5, "百万": 10**6, "千万": 10**7, "亿": 10**8}


@settings(max_examples=300)
@given(units=st.integers(0, 10**10), places=st.integers(0, 2), magnitude=st.sampled_from(sorted(MAGNITUDES)),
       thousands=st.booleans(), fullwidth=st.booleans(), space=st.booleans(), traditional=st.booleans())
def test_arabic_with_magnitude_round_trip(units, places, magnitude, thousands, fullwidth, space, traditional):
    mantissa = Decimal(units).scaleb(-places)  # ≤ 2 decimals, trailing zeros kept as written (4.90)
    s = format(mantissa, ",f" if thousands else "f")
    if space and magnitude:
        s += " "
    s += magnitude.translate(TRADITIONAL) if traditional else magnitude
    if fullwidth:
        s = s.translate(FULLWIDTH)
    value = parse_number(s)
    assert value == mantissa * MAGNITUDES[magnitude], s
    text = decimal_string(value)
    assert Decimal(text) == value and "E" not in text and not (("." in text) and text.endswith("0")), text


@settings(max_examples=200)
@given(n=st.integers(0, 10**12))
def test_arabic_and_chinese_agree(n):
    assert parse_number(chinese(n)) == parse_number(str(n)) == parse_number(f"{n:,}".translate(FULLWIDTH))


@settings(max_examples=100)
@given(yuan=st.integers(1, 10**12), places=st.integers(0, 2))
def test_amount_values_round_trip_through_json(yuan, places):
    d = Decimal(yuan).scaleb(-places)
    value = normalise_entity(f"{d}元", "amount")
    assert Decimal(json.loads(json.dumps(value))["yuan"]) == d


# ---------------------------------------------------------------------------------------
# normalise_entity: the spec's and the examples
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("4.94亿元", amount("494000000")),
    ("858.5万元", amount("8585000")),
    ("1029万元", amount("10290000")),
    ("6.16億元", amount("616000000")),
    ("10余万元", amount("100000", "more_than")),
    ("11.3万元", amount("113000")),
    ("350万元", amount("3500000")),
    ("3347万", amount("33470000")),  # money without 元 (the spec's 支出低保金3347万)
    ("916059元", amount("916059")),
    ("5000元—1万元", amount(lo="5000", hi="10000")),
    ("3000-5000元", amount(lo="3000", hi="5000")),
    ("3000至5000元", amount(lo="3000", hi="5000")),
    ("3000～5000元", amount(lo="3000", hi="5000")),
    ("1万—2万元", amount(lo="10000", hi="20000")),
    ("1-2万元", amount(lo="10000", hi="20000")),  # the left end takes the right end's magnitude
    ("8000-1万元", amount(lo="8000", hi="10000")),  # … unless that would make the range fall
    ("5千元", amount("5000")),
    ("3百万元", amount("3000000")),
    ("两千三百万元", amount("23000000")),
    ("四亿九千四百万元", amount("494000000")),
    ("４．９４億元", amount("494000000")),
    ("１，２３４元", amount("1234")),
    ("0.5万元", amount("5000")),
])
def test_amount(text, expected):
    assert normalise_entity(text, "amount") == expected


@pytest.mark.parametrize("text, expected", [
    ("14.82万人次", count("148200", "人次")),
    ("88.72万人", count("887200", "人")),
    ("6000余张", count("6000", "张", "more_than")),
    ("1万余名", count("10000", "名", "more_than")),
    ("40余万名", count("400000", "名", "more_than")),
    ("1.27万余人次", count("12700", "人次", "more_than")),
    ("70多条", count("70", "条", "more_than")),
    ("669户", count("669", "户")),
    ("220个", count("220", "个")),
    ("5个", count("5", "个")),
    ("1987家", count("1987", "家")),
    ("30.58万对", count("305800", "对")),
    ("7164個", count("7164", "个")),
    ("5000戶", count("5000", "户")),
    ("23.7萬張", count("237000", "张")),
    ("1萬余名", count("10000", "名", "more_than")),
    ("3.77萬", count("37700")),
    ("24.95万", count("249500")),
    ("1565", count("1565")),
    ("238.0 万个", count("2380000", "个")),
    ("1,234个", count("1234", "个")),
    ("２９６５家", count("2965", "家")),
    ("2965家(次)", count("2965", "家")),  # the parenthetical alternate is not the unit
    ("一对", count("1", "对")),
    ("两家", count("2", "家")),
    ("一百二十三万人", count("1230000", "人")),
    ("十来个", count("10", "个", "approx")),
    ("3-5万人", count(unit="人", lo="30000", hi="50000")),
    ("8000余张床位", count("8000", "张床位", "more_than")),
])
def test_count(text, expected):
    assert normalise_entity(text, "count") == expected


@pytest.mark.parametrize("text, expected", [
    ("每人每月620元", standard("620", "person", "人", "month")),
    ("每人每月 620元", standard("620", "person", "人", "month")),
    ("每月1456元", standard("1456", period="month")),
    ("家庭月人均1245元", standard("1245", "person", "家庭人均", "month")),
    ("每人每学年1万元", standard("10000", "person", "人", "school_year")),
    ("每张床位5000元—1万元", standard(per="bed", per_text="张床位", lo="5000", hi="10000")),
    ("每张床位每年3000元", standard("3000", "bed", "张床位", "year")),
    ("每張牀位每年3000元", standard("3000", "bed", "张床位", "year")),
    ("4200元/年", standard("4200", period="year")),
    ("65元/人/月", standard("65", "person", "人", "month")),
    ("65元/人·月", standard("65", "person", "人", "month")),
    ("349元/月", standard("349", period="month")),
    ("1.2万元/人/年", standard("12000", "person", "人", "year")),
    ("每户每年500元", standard("500", "household", "户", "year")),
    ("每生每学期1000元", standard("1000", "student", "生", "term")),
    ("每名儿童每月600元", standard("600", "child", "名儿童", "month")),
    ("每人次50元", standard("50", "person_time", "人次")),
    ("每个区县5万元", standard("50000", per_text="个区县")),  # an unknown per-unit is kept as written
    ("每人每月1867.5元", standard("1867.5", "person", "人", "month")),
    ("每人每月2200元", standard("2200", "person", "人", "month")),
    ("496元", standard("496")),  # bare: the per-unit phrase comes from the document (see below)
    ("4000元", standard("4000")),
])
def test_standard(text, expected):
    assert normalise_entity(text, "standard") == expected


@pytest.mark.parametrize("text, label, qualifier", [
    ("约7590万元", "amount", "approx"),  # qualifiers the spec keeps outside, inside a predicted span
    ("近1.02亿元", "amount", "approx"),
    ("350万元左右", "amount", "approx"),
    ("超过629万", "count", "more_than"),
    ("逾100人", "count", "more_than"),
    ("不少于6期", "count", "at_least"),
    ("至少10场", "count", "at_least"),
    ("5000户以上", "count", "at_least"),  # 以上 includes the number (Civil Code art. 1259)
    ("100人以下", "count", "at_most"),
    ("不超过5000元", "amount", "at_most"),
    ("最多3次", "count", "at_most"),
    ("50万元以内", "amount", "at_most"),
    ("不足100人", "count", "less_than"),
    ("大约3000元", "amount", "approx"),
    ("接近2000场", "count", "approx"),
])
def test_qualifiers_inside_a_span(text, label, qualifier):
    value = normalise_entity(text, label)
    assert value["qualifier"] == qualifier
    assert value["qualifier"] in QUALIFIERS


@pytest.mark.parametrize("text, label", [
    ("abc", "amount"), ("元", "amount"), ("4.94亿美元", "amount"), ("40.17%", "count"), ("", "count"),
    ("5000-3000元", "amount"), ("1-2-3元", "amount"), ("每人每月", "standard"), ("标准4000元", "standard"),
    ("916059元/月", "amount"),  # a per-period suffix does not belong in an amount span
])
def test_unparseable_text_gives_none_and_a_debug_line(text, label, caplog):
    with caplog.at_level(logging.DEBUG, logger="minzheng_ie.annotation.normalize"):
        assert normalise_entity(text, label) is None
    assert any(label in r.getMessage() for r in caplog.records)


def test_labels_without_values():
    assert normalise_entity("低保", "programme") is None
    assert normalise_entity("低保", "no_such_label") is None


def test_key_sets_are_stable():
    keys = {
        "amount": {"type", "yuan", "qualifier", "min", "max"},
        "count": {"type", "number", "unit", "qualifier", "min", "max"},
        "standard": {"type", "yuan", "per", "per_text", "period", "qualifier", "min", "max"},
        "region": {"type", "name", "level", "code"},
    }
    for text, label in [("4.94亿元", "amount"), ("3000-5000元", "amount"), ("6000余张", "count"),
                        ("24.95万", "count"), ("每人每月620元", "standard"), ("496元", "standard"),
                        ("洪江市", "region"), ("全市", "region")]:
        value = normalise_entity(text, label)
        assert set(value) == keys[label] and value["type"] == label


# ---------------------------------------------------------------------------------------
# regions
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("洪江市", region("洪江市", "county", "431281")),
    ("洪江", region("洪江市", "county", "431281")),  # the only division with that short form
    ("怀化市", region("怀化市", "prefecture", "431200")),
    ("重庆市", region("重庆市", "province", "500000")),
    ("重庆", region("重庆市", "province", "500000")),
    ("四川", region("四川省", "province", "510000")),
    ("渝中区", region("渝中区", "county", "500103")),
    ("渝中", region("渝中区", "county", "500103")),
    ("酉阳", region("酉阳土家族苗族自治县", "county", "500242")),
    ("芷江县", region("芷江侗族自治县", "county", "431228")),  # an autonomous county shortened with 县
    ("豐臺區", region("丰台区", "county", "110106")),
    ("黔城镇", region("黔城镇", "township", None)),
    ("大坪街道", region("大坪街道", "township", None)),  # two townships share it; townships have no code
    ("渝", region("重庆市", "province", "500000")),  # one-character province abbreviation
    ("陕", region("陕西省", "province", "610000")),
    ("成渝地区", region("成渝地区", "area", None)),
    ("京津冀", region("京津冀", "area", None)),
    ("浮图关社区", region("浮图关社区", "village", None)),
    ("石桥村", region("石桥村", "village", None)),
    ("朝阳区", region("朝阳区", "county", None)),  # Beijing's and Changchun's: the code is not guessed
    ("江北", region()),  # 江北区 of Chongqing or of Ningbo
    ("全市", region()),
    ("本市", region()),
    ("XX区", region()),
    ("宝墩", region()),
])
def test_region(text, expected):
    assert normalise_entity(text, "region") == expected


@pytest.mark.parametrize("text, jurisdiction, expected", [
    ("江北", "重庆市", region("江北区", "county", "500105")),
    ("朝阳区", "北京市", region("朝阳区", "county", "110105")),
    ("朝阳区", "长春市", region("朝阳区", "county", "220104")),
    ("兴义", "新津区", region("兴义镇", "township", None)),  # a township's short form, in its county's report
    ("兴义", None, region("兴义市", "county", "522301")),  # … elsewhere only the county-level city has it
    ("黔城", "洪江市", region("黔城镇", "township", None)),
    ("黔城", None, region()),
    ("重庆", "北京市", region("重庆市", "province", "500000")),  # outside the jurisdiction: the national reading
    ("江北", "没有这个地方", region()),
])
def test_region_with_jurisdiction(text, jurisdiction, expected):
    assert normalise_entity(text, "region", jurisdiction=jurisdiction) == expected


def test_region_uses_document_jurisdiction():
    doc = markup.parse("[[渝中|region]]、[[江北|region]]成功创建全国社区治理和服务创新实验区。", "j", "test")
    doc.meta.jurisdiction = "重庆市"
    names = [e.value["name"] for e in normalise_doc(doc).entities]
    assert names == ["渝中区", "江北区"]


# ---------------------------------------------------------------------------------------
# normalise_doc: context around the span
# ---------------------------------------------------------------------------------------

def _values(m: str) -> list[dict | None]:
    return [e.value for e in normalise_doc(markup.parse(m, "t", "test")).entities]


def test_list_items_inherit_the_first_items_per_unit_phrase():
    got = _values("城市、农村低保标准分别提高到[[每人每月620元|standard]]、[[496元|standard]],"
                  "特困供养标准达到[[每人每月806元|standard]]。")
    assert got == [standard("620", "person", "人", "month"), standard("496", "person", "人", "month"),
                   standard("806", "person", "人", "month")]


def test_list_inheritance_carries_period_only_phrases_and_school_years():
    got = _values("孤儿保障标准分别提高到[[每月1456元|standard]]、[[1256元|standard]]。"
                  "分别给予[[每人每学年1万元|standard]]、[[8000元|standard]]助学补助。")
    assert got == [standard("1456", period="month"), standard("1256", period="month"),
                   standard("10000", "person", "人", "school_year"), standard("8000", "person", "人", "school_year")]


def test_old_and_new_values_share_the_phrase():
    got = _values("标准分别从[[每人每月580元|standard]]、[[440元|standard]]提高到[[750元|standard]]、[[610元|standard]];"
                  "由[[每人每月2200元|standard]]調整至[[2450元|standard]]。")
    assert [v["yuan"] for v in got] == ["580", "440", "750", "610", "2200", "2450"]
    assert all((v["per"], v["period"]) == ("person", "month") for v in got)


def test_adjacent_list_items_inherit():
    doc = markup.parse("分别达到[[每人每月620元|standard]][[496元|standard]]。", "adjacent", "test")
    assert normalise_doc(doc).entities[1].value == standard("496", "person", "人", "month")


def test_no_inheritance_across_sentences_or_other_words():
    got = _values("标准达到[[每人每月620元|standard]]。[[496元|standard]]为上限。"
                  "达到[[235元/月|standard]],超过省定的农村低保保障标准[[4000元|standard]]和"
                  "月人均救助水平[[218元|standard]]。")
    assert got[1] == standard("496")
    assert got[3] == standard("4000")  # nothing in its clause says per what
    # the per-unit phrase that does not touch the number, in the figure's own clause
    assert got[4] == standard("218", "person", "人均", "month")


def test_a_figure_between_list_items_breaks_the_list():
    got = _values("标准[[每人每月620元|standard]],资金[[500万元|amount]]、[[496元|standard]]。")
    assert got[2] == standard("496")


def test_qualifiers_outside_the_span_are_read_from_the_text():
    got = _values("发放保障金约[[7590万元|amount]],负担减轻近[[1.02亿元|amount]],每年需经费[[350万元|amount]]左右;"
                  "志愿者超过[[629万|count]],培训不少于[[6期|count]],[[5000户|count]]以上社区,"
                  "节约[[500万元|amount]],[[6000余张|count]]床位,[[100人|count]]以下。")
    assert [v["qualifier"] for v in got] == ["approx", "approx", "approx", "more_than", "at_least", "at_least",
                                             None, "more_than", "at_most"]


def test_unparseable_entities_do_not_stop_the_document(caplog):
    doc = markup.parse("[[低保|programme]]资金[[若干|amount]],对象[[88.72万人|count]],[[全市|region]]。", "bad", "test")
    with caplog.at_level(logging.DEBUG, logger="minzheng_ie.annotation.normalize"):
        out = normalise_doc(doc)
    assert out is doc
    values = [e.value for e in doc.entities]
    assert values == [None, None, count("887200", "人"), region()]
    assert any("若干" in r.getMessage() for r in caplog.records)


def test_traditional_and_fullwidth_document():
    got = _values("[[北京市|region]]銷售福利彩票[[28億元|amount]],服務[[7164個|count]],"
                  "城鄉低保標準調整為[[家庭月人均1245元|standard]],[[豐臺區|region]]新建床位[[２３８．０ 萬張|count]]。")
    assert got == [region("北京市", "province", "110000"), amount("2800000000"), count("7164", "个"),
                   standard("1245", "person", "家庭人均", "month"), region("丰台区", "county", "110106"),
                   count("2380000", "张")]


def test_fixture_documents_normalise(fixture_docs):
    for doc in fixture_docs:
        normalise_doc(doc)
        for e in doc.entities:
            if e.label in FIGURES:
                assert e.value is not None, (doc.id, e.text)
    spaces = next(d for d in fixture_docs if d.id == "spaces")
    assert [e.value for e in spaces.entities] == [count("2380000", "个"), standard("620", "person", "人", "month")]


# ---------------------------------------------------------------------------------------
# the gold corpus
# ---------------------------------------------------------------------------------------

# Gold spans whose text has no value by design, with the reason. Empty: every gold amount,
# count and standard parses. Add (doc id prefix, text): reason when a new gold span cannot.
UNPARSEABLE_GOLD: dict[tuple[str, str], str] = {}


def _floats(x) -> list:
    if isinstance(x, float):
        return [x]
    if isinstance(x, dict):
        return [f for v in x.values() for f in _floats(v)]
    if isinstance(x, list):
        return [f for v in x for f in _floats(v)]
    return []


@pytest.fixture(scope="module")
def normalised_gold(gold_docs) -> list[Doc]:
    # a copy: gold_docs is shared by the whole session
    return [normalise_doc(copy.deepcopy(d)) for d in gold_docs]


def test_every_gold_figure_gets_a_value(normalised_gold):
    missing, seen = [], {label: 0 for label in FIGURES}
    for doc in normalised_gold:
        for e in doc.entities:
            if e.label in FIGURES:
                seen[e.label] += 1
                if e.value is None and (doc.id[:3], e.text) not in UNPARSEABLE_GOLD:
                    missing.append((doc.id, e.label, e.text))
    assert not missing
    assert all(seen.values()), seen


def test_gold_values_hold_no_floats_and_survive_json(normalised_gold):
    jsonschema = pytest.importorskip("jsonschema")
    for doc in normalised_gold:
        data = doc.to_json()
        assert not _floats([e.get("value") for e in data["entities"]])
        assert json.loads(json.dumps(data, ensure_ascii=False)) == data
        jsonschema.validate(data, RECORD_JSON_SCHEMA)
        for e in doc.entities:
            v = e.value
            if e.label in FIGURES:
                assert v["type"] == e.label
                for key in ("yuan", "number", "min", "max"):
                    if v.get(key) is not None:
                        assert Decimal(v[key]) >= 0 and "E" not in v[key]
                assert v["qualifier"] in QUALIFIERS + (None,)


def test_gold_spot_checks(normalised_gold):
    by_text = {}
    for doc in normalised_gold:
        for e in doc.entities:
            by_text.setdefault((doc.id[:3], e.text), e.value)
    assert by_text[("000", "4.94亿元")] == amount("494000000")
    assert by_text[("000", "14.82万人次")] == count("148200", "人次")
    assert by_text[("000", "496元")] == standard("496", "person", "人", "month")
    assert by_text[("000", "7590万元")] == amount("75900000", "approx")  # 约7590万元
    assert by_text[("000", "629万")] == count("6290000", qualifier="more_than")  # 超过629万
    assert by_text[("002", "每张床位5000元—1万元")] == standard(per="bed", per_text="张床位", lo="5000", hi="10000")
    assert by_text[("002", "8000元")] == standard("8000", "person", "人", "school_year")
    assert by_text[("003", "65元/人/月")] == standard("65", "person", "人", "month")
    assert by_text[("003", "350万元")] == amount("3500000", "approx")  # 350万元左右
    assert by_text[("003", "218元")] == standard("218", "person", "人均", "month")  # 月人均救助水平218元
    assert by_text[("004", "6.16億元")] == amount("616000000")
    assert by_text[("004", "2450元")] == standard("2450", "person", "人", "month")  # 由每人每月2200元調整至2450元
    assert by_text[("004", "5000戶")] == count("5000", "户", "at_least")  # 5000戶以上
    # regions: short forms resolve by the report's jurisdiction
    assert by_text[("000", "江北")] == region("江北区", "county", "500105")
    assert by_text[("001", "兴义")] == region("兴义镇", "township", None)
    assert by_text[("003", "黔城")] == region("黔城镇", "township", None)
    assert by_text[("003", "芷江县")] == region("芷江侗族自治县", "county", "431228")
    assert by_text[("004", "豐臺區")] == region("丰台区", "county", "110106")
    assert by_text[("001", "成渝地区")] == region("成渝地区", "area", None)


def test_a_figure_with_its_own_period_takes_the_per_unit_from_its_clause():
    got = _values("城乡低保月人均救助水平分别达到[[349元/月|standard]]、[[235元/月|standard]]。")
    assert [(v["yuan"], v["per"], v["per_text"], v["period"]) for v in got] == [
        ("349", "person", "人均", "month"), ("235", "person", "人均", "month")]


def test_qualifiers_outside_the_span_in_traditional_script():
    got = _values("保障金約[[7590萬元|amount]],志願者超過[[629萬|count]],培訓不少於[[6期|count]]。")
    assert [v["qualifier"] for v in got] == ["approx", "more_than", "at_least"]
