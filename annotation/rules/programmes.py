"""Programmes by lexicon (configs/programmes.yaml) and by scheme-name patterns.

1. Lexicon names, longest first (城乡低保 before 低保). Trailing generic words
   (资金, 对象, 标准 …) are simply not part of any lexicon name, so 低保资金 → 低保.
   A name directly followed by an organisation or facility word (医保局, 福彩中心,
   养老助餐点) is part of that organisation's name, not a programme (the spec).
2. A quoted name ending in a scheme suffix, or followed by a scheme word (“阳光救助”,
   “渝悦救助通”应用 → 渝悦救助通): the text inside the quotes.
3. An unquoted name ending in a scheme suffix (…补贴, …救助, …试点 …): it runs back
   to punctuation or a leading verb/determiner (发放, 实施, 全市 …).
4. Figure owners: a sector word directly followed by a figure, optionally through
   资金/金/经费/支出 (社会救助资金4652.07万元 → 社会救助).

Nothing inside a 《…》 title is a programme (the spec: titles of laws, documents and plans are
not tagged; 《关于开展2023年高校毕业生等青年就业服务攻坚行动的通知》). On the train split every
programme the rules found inside one was wrong (20 of 20; dev 4 of 4).

What the gold's train split teaches (configs/programmes-learned.yaml, written by
`mzie annotate learn-rules`, annotation/rules/learn.py) is applied on top: names the
annotators tag that the lexicon lacks, lexicon names that are right only as figure owners,
and suffix patterns that are wrong more often than right.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, replace
from functools import cache

from minzheng_ie.core.config import read_yaml
from minzheng_ie.core.errors import InputError
from minzheng_ie.core.schema import config_path
from minzheng_ie.core.spec import PROGRAMME_TRAILERS, Titles, is_edge_forbidden

from .figures import ARABIC, CN_START


@dataclass(frozen=True)
class ProgrammeRules:
    names: frozenset[str]
    figure_owners: tuple[str, ...]
    suffixes: tuple[str, ...]
    unquoted_suffixes: tuple[str, ...]
    quoted_followers: tuple[str, ...]
    not_programme: tuple[str, ...]
    leading: tuple[str, ...]
    organisation_followers: tuple[str, ...] = ()
    qualifiers: tuple[str, ...] = ()
    continuations: tuple[str, ...] = ()
    # followers that no longer make a quoted name a programme by themselves (learnt: “快乐吧”品牌);
    # a lexicon name inside the quotes still does
    weak_followers: tuple[str, ...] = ()


LEARNED = "programmes-learned.yaml"


@cache
def programme_rules() -> ProgrammeRules:
    """The rules `RuleTagger` uses: the hand-written ones with the learnt ones applied, when
    configs/programmes-learned.yaml exists."""
    path = config_path(LEARNED)
    return apply_learned(hand_rules(), read_yaml(path), str(path)) if path.exists() else hand_rules()


@cache
def hand_rules() -> ProgrammeRules:
    """configs/programmes.yaml alone: what learn-rules starts from, so that relearning does not
    learn from its own earlier output."""
    data = read_yaml(config_path("programmes.yaml"))
    names = frozenset(data.get("names", []))
    return ProgrammeRules(names, tuple(data.get("figure_owners", [])),
                          tuple(data.get("scheme_suffixes", [])), tuple(data.get("unquoted_suffixes", [])),
                          tuple(data.get("quoted_followers", [])),
                          tuple(data.get("not_programme_words", [])),
                          tuple(sorted(data.get("leading_words", []), key=len, reverse=True)),
                          tuple(data.get("organisation_followers", [])),
                          tuple(sorted(data.get("name_qualifiers", []), key=len, reverse=True)),
                          tuple(data.get("suffix_word_continuations", [])))


LEARNED_KEYS = {"source", "documents", "min_precision", "min_tagged", "min_hits",
                "names", "figure_owner_only", "dropped_suffixes", "weak_followers"}


def apply_learned(rules: ProgrammeRules, data: dict, where: str) -> ProgrammeRules:
    """`rules` with a learn-rules result applied: its names added to the lexicon, its
    figure-owner-only names moved from the lexicon to the figure owners, its suffixes dropped,
    its weak followers marked."""
    unknown = sorted(set(data) - LEARNED_KEYS)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown}; this file is written by "
                         "`mzie annotate learn-rules`, rerun it rather than editing the file")

    def entries(key: str, field: str) -> set[str]:
        items = data.get(key) or []
        if not isinstance(items, list) or not all(isinstance(x, dict) and isinstance(x.get(field), str)
                                                   for x in items):
            raise InputError(f"{where}: {key} must be a list of mappings with a {field!r} string; "
                             "rerun `mzie annotate learn-rules` to rewrite the file")
        return {x[field] for x in items}

    owner_only = entries("figure_owner_only", "name")
    names = (rules.names | entries("names", "name")) - owner_only
    dropped = entries("dropped_suffixes", "suffix")
    return replace(rules, names=frozenset(names),
                   figure_owners=rules.figure_owners + tuple(sorted(owner_only - set(rules.figure_owners))),
                   unquoted_suffixes=tuple(x for x in rules.unquoted_suffixes if x not in dropped),
                   weak_followers=tuple(sorted(entries("weak_followers", "follower"))))


@dataclass(frozen=True)
class ProgrammeHit:
    start: int
    end: int
    score: float
    cue: str


QUOTED = re.compile(r"[“\"「]([^”\"」\n]{2,20})[”\"」]")
OWNER_GAP = "(?:资金|資金|经费|經費|支出|金|费|費)?(?:共|累计|達|达|约|約)?"
NAME_CHARS = re.compile(r"[\u4e00-\u9fff·]")
QUOTED_AROUND_LEXICON = "quoted name around a lexicon name"
QUOTED_SCHEME = "quoted scheme name"
CLASSIFIERS = "个项座批所家类条"
MAX_STEM = 10  # characters before an unquoted scheme suffix (configs/programmes.yaml)
# 试点 right after a lexicon name belongs to it (train: 4 gold spans in 4); after 制度 it does not
# (guideline §6 question 6: 新型农村合作医疗|制度试点), and that never reaches here
PILOT = "试点"


def find_programmes(shadow: str, rules: ProgrammeRules | None = None) -> list[ProgrammeHit]:
    rules = rules or programme_rules()
    hits: list[ProgrammeHit] = []
    n = len(shadow)
    # 1. lexicon, longest match first; an organisation's or facility's name is skipped whole.
    # Only the lengths of names that start with the character at i are tried: with the learnt
    # names the longest is 28 characters, and trying every length up to it halved the speed.
    # A qualifier in front of a name (城镇|职工基本医疗保险, 农村|特困供养, 城市居民|最低生活保障)
    # is part of it: the qualified name is a candidate of its own length, and the longest wins,
    # so 农村特困供养 beats the lexicon's 农村特困.
    starts = lengths_by_first_char(rules.names)
    qualifier_firsts = {q[0] for q in rules.qualifiers}  # most positions start no qualifier
    i = 0
    while i < n:
        L = _lexicon_length(shadow, i, rules.names, starts)
        for q in rules.qualifiers if shadow[i] in qualifier_firsts else ():
            if shadow.startswith(q, i):
                after = _lexicon_length(shadow, i + len(q), rules.names, starts)
                if after:
                    L = max(L, len(q) + after)
        if L:
            if shadow.startswith(PILOT, i + L):
                L += len(PILOT)  # a named scheme's pilot is named with it: 城镇居民基本医疗保险试点
            if not shadow.startswith(rules.organisation_followers, i + L):
                hits.append(ProgrammeHit(i, i + L, 0.85, "lexicon"))
            i += L
        else:
            i += 1
    # 2. quoted scheme names. The quotes give the whole name, so a lexicon name inside them is
    # part of it (“光彩助学——圆梦行动” holds the lexicon's 圆梦行动): the quoted name replaces
    # it and takes its reliability. The hits so far are the lexicon's, in text order and never
    # overlapping, so those inside a quote are a run found by bisection: linear in the text.
    lexicon, replaced = hits, set()
    lexicon_starts = [h.start for h in lexicon]
    quoted: list[ProgrammeHit] = []
    for m in QUOTED.finditer(shadow):
        inner = m.group(1)
        tail = shadow[m.end():m.end() + 2]
        if (inner.endswith(rules.suffixes) or tail in rules.quoted_followers) and not _slogan(inner) \
                and not any(w in inner for w in rules.not_programme):
            s, e = m.start(1), m.end(1)
            # A year or number inside (“大手牵小手——2023年母亲微笑行动”) marks an event's title
            # around the scheme, not the scheme's own name: the lexicon name inside is kept.
            inside = []
            if not re.search(r"[0-9０-９]", inner):
                k = bisect.bisect_left(lexicon_starts, s)
                while k < len(lexicon) and lexicon[k].end <= e:
                    inside.append(lexicon[k])
                    replaced.add(k)
                    k += 1
            if not inside and not inner.endswith(rules.suffixes) and tail in rules.weak_followers:
                continue  # only a weak follower makes it a name: “快乐吧”品牌, “打非治违”专项整治
            if inside:
                # the spec's trailing 项目: outside when the name stands without it
                # (“孤儿医疗康复明天计划项目” → 孤儿医疗康复明天计划, “福彩圆梦·孤儿助学工程” → 福彩圆梦·孤儿助学)
                if inner.endswith(("项目", "工程")) and (inner[:-2].endswith(rules.suffixes)
                                                        or any(h.end == e - 2 for h in inside)):
                    e -= 2
            quoted.append(ProgrammeHit(s, e, 0.85, QUOTED_AROUND_LEXICON) if inside
                          else ProgrammeHit(s, e, 0.6, QUOTED_SCHEME))
    hits = [h for k, h in enumerate(lexicon) if k not in replaced] + quoted
    # 3. unquoted names ending in a scheme suffix
    for suffix in rules.unquoted_suffixes:
        for m in re.finditer(re.escape(suffix), shadow):
            end = m.end()
            if shadow.startswith(rules.continuations, end):
                continue  # 补贴金, 工程师, 计划生育: the suffix is inside another word
            # Walk back over the whole run of name characters, cut at the last leading word,
            # then keep the name only if 2-10 characters stand before the suffix. Stopping the
            # walk at 10 instead would cut a longer run at an arbitrary character (城乡社区困难家庭儿童课后
            # 托管关爱计划 → 家庭儿童课后托管关爱计划): such a name is dropped, not truncated.
            # The walk stops at 4 × MAX_STEM characters, which changes nothing: a cut that leaves
            # ≤ MAX_STEM falls inside that window, and without one the name is dropped anyway.
            # It keeps the work per suffix bounded in text with no punctuation for pages.
            start = m.start()
            while start > 0 and NAME_CHARS.match(shadow[start - 1]) and m.start() - start < 4 * MAX_STEM:
                start -= 1
            start += _after_leading(shadow[start:end], rules.leading)
            name = shadow[start:end]
            if start > 0 and shadow[start - 1].isdigit() and name[0] in CLASSIFIERS:
                continue  # 20个区县试点, 15项重大工程: a count of things, not a name
            if not 2 <= m.start() - start <= MAX_STEM or any(w in name for w in rules.not_programme) \
                    or _slogan(name):
                continue
            hits.append(ProgrammeHit(start, end, 0.5, f"name ending in {suffix}"))
    # 4. sector words that own a figure
    for owner in rules.figure_owners:
        for m in re.finditer(re.escape(owner) + OWNER_GAP + ARABIC, shadow):
            hits.append(ProgrammeHit(m.start(), m.start() + len(owner), 0.6, "figure owner"))
    titles = Titles(shadow)
    return [h for h in hits if not _bad_edges(shadow[h.start:h.end]) and not titles.around(h.start, h.end)]


def _lexicon_length(shadow: str, i: int, names: frozenset[str], starts: dict[str, tuple[int, ...]]) -> int:
    """The length of the longest lexicon name at position i, or 0."""
    for L in starts.get(shadow[i], ()) if i < len(shadow) else ():
        if L <= len(shadow) - i and shadow[i:i + L] in names:
            return L
    return 0


@cache
def lengths_by_first_char(names: frozenset[str]) -> dict[str, tuple[int, ...]]:
    """First character → the lengths (≥ 2, longest first) of the names that start with it."""
    out: dict[str, set[int]] = {}
    for name in names:
        if len(name) >= 2:
            out.setdefault(name[0], set()).add(len(name))
    return {ch: tuple(sorted(lengths, reverse=True)) for ch, lengths in out.items()}


def _slogan(name: str) -> bool:
    """三大行动, 四个一工程, 专项行动: a numeral-led or generic name is a slogan, not a scheme."""
    return name[0] in CN_START or name.startswith(("专项", "改革", "治理", "三年", "五年"))


def _after_leading(name: str, leading: tuple[str, ...]) -> int:
    """Characters to drop from the front: the last leading word or function character in the name."""
    cut = 0
    for k in range(len(name)):
        for w in leading:
            if name.startswith(w, k):
                cut = max(cut, k + len(w))
        if name[k] in "的和及与或在对为把将由从向了":
            cut = max(cut, k + 1)
    return cut


def _bad_edges(span: str) -> bool:
    return (not span or is_edge_forbidden(span[0]) or is_edge_forbidden(span[-1])
            or any(span.endswith(w) and len(span) > len(w) for w in PROGRAMME_TRAILERS))
