"""Amounts, counts and standards by rule: number phrases, their units and per-unit phrases.

A figure is a number phrase — Arabic or Chinese digits, an optional 万/亿 magnitude,
余/多 inside, a single PDF-extraction space allowed before the magnitude or unit —
followed by a unit: 元 (美元, 港元, 欧元) makes money, a measure word makes a count, and a
range of two numbers before one unit (6000至6500人) is one figure. Money becomes a
standard when a per-unit phrase touches it (每人每月620元, 每株5万元, 65元/人/月), when its
clause calls it a standard, level or per-head figure (标准4000元), or when a cap, a one-off
payment or a per-child benefit comes right before it (最高1000元, 一次性补助5000元,
三孩家庭25000元). Numbers before other units (千瓦, 立方米, 担), money per head (人均可支配收入)
and averages (次均住院费用) are not figures; totals of revenue, wages or GDP are amounts. Qualifiers
(约 近 超过 达 …) and trailing 左右/以上 are never matched, so they stay outside.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

DIGITS = "0-9０-９"
ARABIC = rf"[{DIGITS}]+(?:[,，][{DIGITS}]{{3}})*(?:[.．][{DIGITS}]+)?"
# Chinese numerals must start with a digit word, so 万 alone or 百姓 never starts one.
CN_START = "零〇一二两三四五六七八九十壹贰叁肆伍陆柒捌玖拾兩貳參陸"
CN_BODY = CN_START + "百千万亿佰仟萬億"
CHINESE = rf"[{CN_START}][{CN_BODY}]*"
MAGNITUDE = "(?:万亿|萬億|千万|百万|千萬|百萬|[万亿萬億])"  # 10.8万亿元 is one amount
APPROX = "[余多餘]"
NUMBER = rf"(?:{ARABIC}|{CHINESE})"
# 10余万 · 1万余 · 6000余 · 238.0 万 (one space from PDF extraction)
NUMBER_PHRASE = rf"{NUMBER}{APPROX}?(?: ?{MAGNITUDE})?{APPROX}?"

MEASURE_WORDS = sorted("""
人次 户次 戶次 场次 場次 家次 台次 辆次 輛次 架次 艘次 台套 人份 标箱 標箱 批次
单 單 栋 棟 轮 輪 注 幅 款 列 箇
个 個 人 户 戶 家 张 張 名 位 对 對 次 条 條 项 項 所 座 场 場 支 批 件 份 处 處 套 间 間 期
只 隻 辆 輛 台 臺 类 類 种 種 部 本 篇 例 笔 筆 宗 起 册 冊 块 塊 床 架 艘 棵 株 头 頭 口 道 门 門
""".split(), key=len, reverse=True)
# A measure word followed by these characters is the start of another word: 家庭, 部门, 条例 …
# (人公里, 人海里: a passenger distance)
NOT_MEASURE_AFTER = {
    "家": "庭长屬属用电具居乡", "部": "门門分署委", "条": "例件款约", "條": "例件款約", "所": "有以在属得谓",
    "场": "所地景馆館", "場": "所地景館", "处": "理置罚分于", "處": "理置罰分於", "支": "持出付援撑",
    "份": "额額", "期": "间間限待望", "间": "隔断", "門": "診檻戶類", "门": "诊槛户类",
    "个": "人体性别月", "個": "人體性別月", "名": "单單称稱义義额額", "口": "岸号號径", "头": "条衔", "道": "路德",
    "本": "级級地领領部着", "起": "来來步草", "类": "似", "種": "類", "种": "类", "块": "钱",
    "笔": "者", "台": "湾灣账帳", "臺": "灣", "次": "数序要", "位": "置于於", "床": "位",
    "人": "民员員才口均们們力事士群格公海", "户": "籍口外", "戶": "籍口外", "对": "象于於接口外待", "對": "象於接口外待",
    "件": "事", "座": "谈談", "批": "准示复復评評", "项": "目", "項": "目",
    "单": "位元独", "單": "位元獨", "列": "入为為车車表举舉", "注": "意册冊重入射明", "款": "项項式物待",
    "轮": "流换換椅", "輪": "流換椅", "幅": "度员員",
}
# Words after 个 that make the number a duration or a magnitude, not a count: 3个小时, 4个多月,
# 60个自然日, 9个多亿
NOT_COUNT_AFTER_GE = ("小时", "小時", "多小时", "多小時", "多月", "自然日", "工作日", "多亿", "多億")
# What a number never is when these follow: dates, percentages, ratios, areas, lengths,
# weights, durations (the spec's exclusions).
NOT_A_FIGURE_AFTER = ("年", "月", "日", "号", "號", "时", "時", "%", "％", "‰", "岁", "歲", "周岁", "倍",
                      "平方", "米", "公里", "千米", "吨", "噸", "公斤", "斤", "小时", "小時", "天", "分钟", "秒",
                      "亩", "畝", "个百分点", "個百分點", "个月", "個月", "届", "屆", "度", "级", "級", "星",
                      "立方", "千瓦", "担", "擔")

PER_UNIT_FRONT = (
    r"(?:每(?:人|户|戶|位|名|生|个|個|家|对|對|张床位|張床位|床位|张床|張床|床|亩|畝|株|台|臺|笔|筆|辆|輛|套|件)"
    r"(?:每)?(?:月|年|学年|學年|季度|季|天|日)?|每(?:月|年|学年|學年|季度|季|天|日)|(?:家庭)?(?:月|年)人均)"
)
PER_UNIT_BACK = r"(?:[/每](?:人|户|戶|床|张|張|月|年|学年|學年|天|日)(?:[/·](?:人|户|戶|月|年|学年|學年|天|日))?)"
RANGE_SEP = "[—–\\-~～至到]"

MONEY = re.compile(
    rf"(?P<front>{PER_UNIT_FRONT})?(?P<num>{NUMBER_PHRASE})(?:元?{RANGE_SEP}(?P<num2>{NUMBER_PHRASE}))?"
    rf" ?(?:美|港|欧|歐)?元(?P<back>{PER_UNIT_BACK})?"  # 606亿美元 is money too
)
# 6000至6500人 and 4-6人 are one count, as 5000元—1万元 is one amount
COUNT = re.compile(rf"(?P<num>{NUMBER_PHRASE})(?:{RANGE_SEP}(?P<num2>{NUMBER_PHRASE}))? ?"
                   rf"(?P<unit>{'|'.join(map(re.escape, MEASURE_WORDS))})")
# A magnitude with no unit: money when the clause is about money (支出低保金3347万), else a
# count when people or places follow (24.95万困难群众, 12乡镇 is left alone: no magnitude).
BARE_MAGNITUDE = re.compile(rf"(?P<num>{NUMBER}{APPROX}? ?{MAGNITUDE}{APPROX}?)")

# Clause context that makes money a standard, or takes it out of scope.
STANDARD_CUES = ("标准", "標準", "水平", "封顶", "封頂", "人均", "每人", "每月", "每年", "每户", "每戶", "补差", "補差",
                 "上限", "提标", "提標")
# Right before the money (the clause's last 8 characters): a cap or floor (最高1000元, 上限33891元),
# a one-off payment (一次性补助5000元) or a per-child benefit (三孩家庭25000元) is a benefit level.
# On the train split money after these was a gold standard 37 times in 39 (an amount twice).
STANDARD_CUES_NEAR = ("最高", "至高", "最多", "低至", "最低", "不低于", "不超过", "不超過", "上限", "下限",
                      "一次性", "孩家庭", "二孩", "三孩", "一孩")
# Descriptive statistics of people's money per head (人均可支配收入41314元) are out of scope (the
# spec); totals are amounts: 营业收入, 基金收入, 拖欠工资, 拉动消费, 地区生产总值 (guideline §6,
# GDP and revenue; on the train split the gold tagged 29 of 30 such totals).
NOT_MONEY_OF_PROGRAMMES = ("收入", "可支配", "工资", "工資", "存款", "消费", "消費")
PER_HEAD = ("人均", "可支配", "平均", "每人")
# Averages per visit, per day or per item: untagged in the gold (train: 10 of 10)
AVERAGES = ("次均", "日均", "均价")
MONEY_CUES = ("资金", "資金", "金", "经费", "經費", "支出", "投入", "拨付", "撥付", "筹集", "籌集", "募集", "捐赠", "捐贈",
              "预算", "預算", "销售", "銷售", "发放", "發放", "元", "耗资", "耗資", "投资", "投資", "费", "費")
COUNTING_VERBS = ("新建", "建成", "新增", "设立", "建立", "举办", "培育", "组建", "共有", "达到", "达", "共",
                  "設立", "舉辦", "達到", "達")
PER_UNIT_RATE = re.compile("每[十百千万个個][^，,；;。]*$")
CLAUSE_BREAK = "，,；;：:。！？!?\n（）()"


@dataclass(frozen=True)
class Figure:
    start: int
    end: int
    label: str  # amount | count | standard
    score: float
    cue: str  # which rule fired, for debugging and the guideline


def clause_start(text: str, i: int) -> int:
    j = i
    while j > 0 and text[j - 1] not in CLAUSE_BREAK:
        j -= 1
    return j


def _excluded_before(text: str, start: int) -> bool:
    if start == 0:
        return False
    prev = text[start - 1]
    # ordinals (第十五届), codes and numbers glued to Latin or digits (A1, 2020.12.24)
    return prev == "第" or prev.isascii() and prev.isalnum() or prev in ".．·"


def _excluded_after(text: str, end: int) -> bool:
    rest = text[end:end + 4]
    return rest.startswith(NOT_A_FIGURE_AFTER) or (rest[:1] in ".．" and rest[1:2].isdigit())


def _money_label(text: str, m: re.Match) -> tuple[str, int, float, str]:
    """(label, end, score, cue) for a money match; end may drop a per-period suffix (916059元/月)."""
    if m.group("front"):
        return "standard", m.end(), 0.95, "per-unit phrase in front"
    if m.group("back"):
        if _yuan_value(m.group("num")) >= 100_000:
            # a total paid per period is an amount (the spec's 916059元/月): drop the suffix
            return "amount", m.start("back"), 0.6, "large per-period total"
        return "standard", m.end(), 0.95, "per-unit phrase behind"
    clause = text[clause_start(text, m.start()):m.start()]
    if any(c in clause for c in STANDARD_CUES):
        return "standard", m.end(), 0.7, "clause names a standard/level/per-head figure"
    if any(c in clause[-8:] for c in STANDARD_CUES_NEAR):
        return "standard", m.end(), 0.6, "a cap, a one-off or a per-child benefit"
    return "amount", m.end(), 0.9, "money"


def _yuan_value(num: str) -> float:
    """Rough magnitude of a number phrase, only to tell totals from rates."""
    digits = re.match(rf"[{DIGITS}.．,，]+", num)
    if not digits:
        return 0.0
    raw = digits.group(0).translate(str.maketrans("０１２３４５６７８９．，", "0123456789.,")).replace(",", "")
    try:
        value = float(raw)
    except ValueError:
        return 0.0
    for mag, mult in (("亿", 1e8), ("億", 1e8), ("万", 1e4), ("萬", 1e4)):
        if mag in num:
            value *= mult
    return value


def _chinese_only(num: str) -> bool:
    return not re.search(f"[{DIGITS}]", num)


def find_figures(text: str) -> list[Figure]:
    """Every amount, count and standard candidate (may overlap; the caller resolves)."""
    out: list[Figure] = []
    taken = [False] * (len(text) + 1)

    def free(s: int, e: int) -> bool:
        return not any(taken[s:e])

    def take(f: Figure) -> None:
        out.append(f)
        for k in range(f.start, f.end):
            taken[k] = True

    for m in MONEY.finditer(text):
        if _excluded_before(text, m.start("num")) or _chinese_only(m.group("num")) and len(m.group("num")) < 2:
            continue
        clause = text[clause_start(text, m.start()):m.start()]
        if any(c in clause[-8:] for c in NOT_MONEY_OF_PROGRAMMES) and any(p in clause for p in PER_HEAD):
            continue  # income, wages and savings per head are out of scope
        if any(c in clause[-10:] for c in AVERAGES):
            continue  # 次均住院费用2095.8元: an average per visit or day is a statistic, not a figure
        label, end, score, cue = _money_label(text, m)
        start = m.start() if m.group("front") else m.start("num")
        take(Figure(start, end, label, score, cue))

    for m in COUNT.finditer(text):
        s, e = m.start("num"), m.end()
        num, unit = m.group("num"), m.group("unit")
        after = text[e:e + 1]
        last = m.end("num2") if m.group("num2") else m.end("num")  # 2-3个百分点 is a ratio, as 3个百分点 is
        if not free(s, e) or _excluded_before(text, s) or _excluded_after(text, last):
            continue
        if after and after in NOT_MEASURE_AFTER.get(unit[-1], ""):
            continue
        if unit in ("个", "個") and text.startswith(NOT_COUNT_AFTER_GE, e):
            continue
        if PER_UNIT_RATE.search(text[clause_start(text, s):s]):
            continue  # 每千名老年人拥有床位37张, 每个区县至少有1家: a rate, not a count
        if _chinese_only(num):
            # 两家 counts; 一个/一批 are articles, and numerals in slogans or names (两项补贴, 五个民政,
            # 十四五) are not figures: keep Chinese numerals with a magnitude, after a counting verb
            # (新建两家养老院) or before punctuation.
            counted = text[max(0, s - 2):s].endswith(COUNTING_VERBS)
            if num in ("一", "壹") or not (re.search(MAGNITUDE, num) or counted or after in "，,、；;。）)" or not after):
                continue
            if any(q in text[max(0, s - 1):s] for q in "“\"「"):
                continue
            take(Figure(s, e, "count", 0.5, "Chinese numeral with measure word"))
            continue
        take(Figure(s, e, "count", 0.9, "number with measure word"))

    for m in BARE_MAGNITUDE.finditer(text):
        s, e = m.span()
        if not free(s, e) or _excluded_before(text, s) or _excluded_after(text, e) or _chinese_only(m.group("num")):
            continue
        if text[e:e + 1] == "元":
            continue
        clause = text[clause_start(text, s):s]
        if any(c in clause[-6:] for c in MONEY_CUES):
            take(Figure(s, e, "amount", 0.6, "magnitude in a money clause"))
        else:
            take(Figure(s, e, "count", 0.5, "magnitude without unit"))
    return sorted(out, key=lambda f: f.start)
