"""Administrative divisions from jionlp's location dictionary.

jionlp (Apache-2.0) ships `dictionary/china_location.zip`: provinces, prefectures and
counties with their six-digit codes and short forms, and every township and street
(names only). We read that file directly — importing jionlp itself would load its
word segmenter for nothing — and keep levels down to townships (~43k names); its
villages (~650k) are not loaded: a village is tagged only in a chain behind its township.
"""
from __future__ import annotations

import importlib.util
import io
import logging
import zipfile
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

from minzheng_ie.core.errors import InputError

log = logging.getLogger(__name__)

LEVELS = ("province", "city", "county", "town")


@dataclass(frozen=True)
class Place:
    name: str  # full name, with suffix
    level: str  # province | city | county | town
    code: str | None  # six-digit division code (towns: None)
    province: str | None  # code of the province it lies in
    city: str | None  # code of the prefecture it lies in
    parent: str | None  # full name of the division above it (for display)


@dataclass
class Gazetteer:
    names: dict[str, list[Place]]  # full names → places (a name may exist in several provinces)
    aliases: dict[str, list[Place]]  # short forms (重庆, 渝中) → places
    by_code: dict[str, Place]

    @cached_property
    def max_len(self) -> int:  # over ~43k names: computed once, not per document
        return max(map(len, self.names))


def jionlp_location_file() -> Path:
    spec = importlib.util.find_spec("jionlp")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the region gazetteer needs the jionlp package (pip install jionlp)")
    path = Path(list(spec.submodule_search_locations)[0]) / "dictionary" / "china_location.zip"
    if not path.exists():
        raise InputError(f"{path} is missing: reinstall jionlp (pip install --force-reinstall jionlp)")
    return path


def parse_location_lines(lines) -> Gazetteer:
    """Parse the tab-indented hierarchy: depth = number of leading tabs; depths 0-2 carry
    `name<TAB>code<TAB>short`, depth 3 a township name, depth 4 villages (skipped)."""
    names: dict[str, list[Place]] = {}
    aliases: dict[str, list[Place]] = {}
    by_code: dict[str, Place] = {}
    stack: list[Place | None] = [None, None, None]
    for raw in lines:
        line = raw.rstrip("\r\n")
        depth = len(line) - len(line.lstrip("\t"))
        if depth > 3 or not line.strip():
            continue
        parts = line.strip("\t").split("\t")
        name = parts[0].strip()
        if depth < 3:
            code = parts[1].strip() if len(parts) > 1 else None
            short = parts[2].strip() if len(parts) > 2 else ""
            prov = stack[0].code if depth > 0 and stack[0] else code
            city = stack[1].code if depth > 1 and stack[1] else (code if depth == 1 else None)
            parent = stack[depth - 1].name if depth and stack[depth - 1] else None
            place = Place(name, LEVELS[depth], code, prov, city, parent)
            stack[depth] = place
            for d in range(depth + 1, 3):
                stack[d] = None
            if depth == 1 and name == parent:
                continue  # municipalities repeat themselves as their own prefecture
            if code:
                by_code.setdefault(code, place)
            if short and short != name:
                aliases.setdefault(short, []).append(place)
        else:
            county = stack[2] or stack[1]
            place = Place(name, "town", None, stack[0].code if stack[0] else None,
                          stack[1].code if stack[1] else None, county.name if county else None)
        names.setdefault(name, []).append(place)
    return Gazetteer(names, aliases, by_code)


@cache
def load_gazetteer() -> Gazetteer:
    path = jionlp_location_file()
    with zipfile.ZipFile(path) as zf:
        member = next(n for n in zf.namelist() if n.endswith(".txt"))
        with zf.open(member) as fh:
            gaz = parse_location_lines(io.TextIOWrapper(fh, encoding="utf-8"))
    log.debug("gazetteer: %d names, %d short forms", len(gaz.names), len(gaz.aliases))
    return gaz
