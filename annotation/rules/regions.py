"""Regions by gazetteer: full names anywhere, short forms where the document makes them safe.

- A full name (重庆市, 渝中区, 黔城镇, 大坪街道) is a region wherever it stands, longest
  first, so a chain splits one level per span (重庆市|渝中区|大坪街道|浮图关社区).
- A short form (重庆, 渝中, 南岸) counts for provinces always, and for prefectures and
  counties only when the document also names their province or prefecture — 南岸 in a
  Chongqing report is a district; elsewhere it is a river bank.
- A short form followed by an organisation word (安江中心敬老院) is part of a name, which
  the spec tags only when the region carries its suffix. So is any suffix-less place
  followed, in the same run of characters, by a word that ends organisation names
  (上海交通大学, 枣庄电视台, 沈阳盘古网络技术有限公司): `organisation_ends` within
  `organisation_window` characters. Measured on the train split, the suffix-less regions
  this removes were right 21 times in 183; removing predictions that precise raises F1
  whenever F1 > 2 × 0.11 (annotation/rules/learn.py has the arithmetic).
- A short form gives way to a full name that starts inside it and runs on past it
  (协会和龙文区: 龙文区, not 和龙).
- Autonomous areas are also found by short form + 自治县/县 and 自治州/州 (威宁自治县, 阿坝州).
- A province, prefecture or named area followed by 都市圈 or 经济区 is one named area with it
  (合肥都市圈, 成渝经济区); named areas the gazetteer lacks (港澳台, 皖北, 中西部, 黄河流域) are
  listed in configs/regions.yaml.
- A township name that is really the word 城乡 or 乡村 (下游城乡, 振兴乡村) is not a region.
- Villages and communities are tagged only right behind a township or county in a chain.
- Inside a 《…》 title, only a region with its suffix.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from minzheng_ie.core.config import read_yaml
from minzheng_ie.core.schema import config_path
from minzheng_ie.core.spec import Titles

from .gazetteer import Place, load_gazetteer
from .programmes import lengths_by_first_char

VILLAGE_IN_CHAIN = re.compile(r"[\u4e00-\u9fff]{2,4}?(?:社区|村)(?![\u4e00-\u9fff]{0,1}(?:社区|村))")
PLACEHOLDER = re.compile(r"(?<![A-Za-z])[XxＸｘ×]{1,3}(?:省|市|区|县|镇|乡|街道)")


@dataclass(frozen=True)
class RegionRules:
    areas: frozenset[str]
    stop_aliases: frozenset[str]
    stop_names: frozenset[str]
    organisation_words: tuple[str, ...]
    organisation_ends: tuple[str, ...] = ()
    organisation_window: int = 10


ADMIN_SUFFIXES = ("省", "市", "区", "县", "州", "旗", "盟", "镇", "乡", "街道", "村", "社区")
# a province, prefecture or named area followed by one of these is a named area as a whole (合肥都市圈,
# 成渝经济区): on the train split 12 of 14 such words stood inside a longer gold region
AREA_TAILS = ("都市圈", "经济区")


def _overtaken(match: "_Matcher", hit: RegionHit) -> bool:
    """A short form whose last characters begin a full name with its suffix that runs on past
    it (协会和龙文区: 和龙 against 龙文区) gives way to that name, which starts inside it."""
    for j in range(hit.start + 1, hit.end):
        other = match.at(j)
        if other is not None and other.end > hit.end and match.shadow[other.start:other.end].endswith(ADMIN_SUFFIXES):
            return True
    return False


@cache
def region_rules() -> RegionRules:
    data = read_yaml(config_path("regions.yaml"))
    return RegionRules(frozenset(data.get("areas", [])), frozenset(data.get("stop_aliases", [])),
                       frozenset(data.get("stop_names", [])), tuple(data.get("organisation_words", [])),
                       tuple(data.get("organisation_ends", [])), int(data.get("organisation_window", 10)))


def in_organisation_name(shadow: str, start: int, end: int, rules: RegionRules) -> bool:
    """A suffix-less place that opens an organisation's name: a word that ends such names
    follows within the same run of Chinese characters (上海|交通大学, 枣庄|电视台)."""
    if shadow[start:end].endswith(ADMIN_SUFFIXES) or not rules.organisation_ends:
        return False
    j = end
    while j < len(shadow) and j - end < rules.organisation_window and "\u4e00" <= shadow[j] <= "\u9fff":
        j += 1
    run = shadow[end:j]
    return any(w in run for w in rules.organisation_ends)


@dataclass(frozen=True)
class RegionHit:
    start: int
    end: int
    score: float
    place: Place | None  # None for named areas, villages and placeholders
    short_form: bool = False  # a suffix-less short form, taken because the document names its province


@cache
def _upper_level_names() -> tuple[tuple[str, str], ...]:
    """(name, code) of every province and prefecture by full name, and of provinces by short form."""
    gaz, rules = load_gazetteer(), region_rules()
    out = [(name, p.code) for name, places in gaz.names.items() for p in places
           if p.level in ("province", "city") and p.code]
    out += [(name, p.code) for name, places in gaz.aliases.items() for p in places
            if p.level == "province" and p.code and len(name) >= 2 and name not in rules.stop_aliases]
    return tuple(out)


def _context_codes(shadow: str) -> set[str]:
    """Codes of the provinces and prefectures the document names (a prefecture's short form
    does not count: it would vouch for itself)."""
    return {code for name, code in _upper_level_names() if name in shadow}


@cache
def _derived_names() -> dict[str, Place]:
    """Texts shorten autonomous areas to their short form + a plain suffix: 芷江县 and 威宁自治县
    for 芷江侗族自治县 and 威宁彝族回族苗族自治县, 阿坝州 and 阿坝自治州 for 阿坝藏族羌族自治州."""
    gaz = load_gazetteer()
    out = {}
    shortened = {("county", "自治县"): ("县", "自治县"), ("city", "自治州"): ("州", "自治州")}
    for short, places in gaz.aliases.items():
        for p in places:
            for (level, ending), suffixes in shortened.items():
                if p.level == level and p.name.endswith(ending):
                    for suffix in suffixes:
                        if short + suffix not in gaz.names:
                            out.setdefault(short + suffix, p)
    return out


@cache
def _name_lengths(rules: RegionRules) -> dict[str, tuple[int, ...]]:
    """First character → the lengths, longest first, of the areas, names, derived names and
    short forms that start with it: each position tries only those instead of every length.
    Lengths run from 2 to 12: the gazetteer's few longer names are never looked for."""
    gaz = load_gazetteer()
    tables = (rules.areas, gaz.names, _derived_names(), gaz.aliases)
    return lengths_by_first_char(frozenset(name for table in tables for name in table if len(name) <= 12))


class _Matcher:
    """The region that starts at a position, if any: areas, full names, derived names, then
    short forms the document makes safe; the longest that qualifies."""

    def __init__(self, shadow: str):
        self.shadow, self.gaz, self.rules = shadow, load_gazetteer(), region_rules()
        self.derived, self.lengths = _derived_names(), _name_lengths(self.rules)
        self.context: set[str] | None = None  # computed on the first short-form candidate

    def at(self, i: int) -> RegionHit | None:
        shadow, gaz, rules, derived = self.shadow, self.gaz, self.rules, self.derived
        n = len(shadow)
        for L in self.lengths.get(shadow[i], ()):
            if L > n - i:
                continue
            s = shadow[i:i + L]
            if s not in rules.areas and s not in gaz.names and s not in derived and s not in gaz.aliases:
                continue  # no place by this name: the common case, one lookup in each table
            if in_organisation_name(shadow, i, i + L, rules):
                continue  # part of an organisation's name, and no suffix to tag
            if s in rules.areas:
                return RegionHit(i, i + L, 0.85, None)
            if s in gaz.names and s not in rules.stop_names:
                places = gaz.names[s]
                if places[0].level == "town" and (s.endswith("城乡") or s.endswith("乡") and shadow[i + L:i + L + 1] == "村"):
                    continue  # 下游城乡, 振兴乡村: the words 城乡 and 乡村, not a township
                return RegionHit(i, i + L, 0.9 if places[0].level != "town" else 0.8, places[0])
            if s in derived:
                return RegionHit(i, i + L, 0.85, derived[s])
            if s in gaz.aliases and s not in rules.stop_aliases:
                places = gaz.aliases[s]
                after = shadow[i + L:i + L + 4]
                if any(after.startswith(w) for w in rules.organisation_words) or (i > 0 and shadow[i - 1] in "“「《\""):
                    continue  # part of a name or title: tagged only with its suffix
                if self.context is None:
                    self.context = _context_codes(shadow)
                ok = [p for p in places if p.level == "province"
                      or p.level == "city" and p.province in self.context
                      or p.level == "county" and (p.province in self.context or p.city in self.context)]
                if ok:
                    return RegionHit(i, i + L, 0.7, ok[0], short_form=True)
        return None


def find_regions(shadow: str) -> list[RegionHit]:
    match = _Matcher(shadow)
    hits: list[RegionHit] = []
    n = len(shadow)
    i = 0
    while i < n:
        if not ("\u4e00" <= shadow[i] <= "\u9fff"):
            i += 1
            continue
        found = match.at(i)
        if found is not None and found.short_form and _overtaken(match, found):
            found = None  # 和龙|龙文区: the short form ate the first character of a full name
        if found is None:
            i += 1
            continue
        tail = next((w for w in AREA_TAILS if shadow.startswith(w, found.end)), None)
        if tail and (found.place is None or found.place.level in ("province", "city")):
            found = RegionHit(found.start, found.end + len(tail), 0.85, None)  # 合肥都市圈, 成渝经济区
        hits.append(found)
        i = found.end
        # a village or community right behind a township or county, in a chain
        if found.place is not None and found.place.level == "town":
            m = VILLAGE_IN_CHAIN.match(shadow, i)
            if m and not m.group().startswith(("农村", "城乡")) and not m.group().endswith("乡村"):
                hits.append(RegionHit(m.start(), m.end(), 0.6, None))
                i = m.end()
    for m in PLACEHOLDER.finditer(shadow):
        hits.append(RegionHit(m.start(), m.end(), 0.6, None))
    # inside a 《…》 title only a region with its suffix (the spec); suffix-less ones there were
    # right 0 times in 6 on the train split (《…城市建设论坛长沙倡议》)
    titles = Titles(shadow)
    hits = [h for h in hits if shadow[h.start:h.end].endswith(ADMIN_SUFFIXES) or not titles.around(h.start, h.end)]
    return sorted(hits, key=lambda h: h.start)
