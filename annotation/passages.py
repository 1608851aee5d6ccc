"""Gold passages from the unlabeled corpus: chosen by rule, recorded by provenance.

`mzie annotate passages --config configs/passages.yaml -o annotation/data/gold/passages.jsonl`
reads `../shared/corpus` and writes one manifest line per passage: which corpus file,
which record (its 0-based line number in that file, plus the record's own path/line or
title), which character range of it, how many characters, its script, and why it was
chosen. The text itself is not in the manifest: `passage_text` rebuilds it from the
corpus, byte for byte, and checks it against the stored sha256. Rerunning the command
with the same config and corpus gives the same manifest.

How a passage is cut. A record is split into paragraphs at line breaks (a paragraph
longer than `max_paragraph` is split further at sentence ends, so one giant line cannot
make a passage too long). A candidate window starts at a paragraph start and takes
whole paragraphs until it holds at least `target_chars`; windows outside
[`min_chars`, `max_chars`] are dropped. News chunks are short (the CRUD corpus cuts
articles into ≤ 1,118-character chunks, most about 740), so a news passage is a bundle
of whole chunks of the same level, joined by a blank line, until it reaches
`target_chars`; each chunk is one segment of the manifest.

How a passage is scored. `domain_hits` counts civil-affairs words (`DOMAIN`), and
`domain_figures` counts figures — a number with a money, people or unit word — in
sentences that also hold a domain word. Dense passages are ranked by domain figures per
1,000 characters (ties by hits); sparse ones are drawn at random among windows with one
or two domain words, so the gold also shows what is *not* an entity.

Traditional script: native traditional windows keep their script; then passages are
converted with OpenCC (alternately s2twp and s2hk, seeded) until traditional text is at
least `traditional_share` of the characters. Converted passages say so (`opencc`).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from minzheng_ie.core.errors import InputError

log = logging.getLogger(__name__)

# Words that mark civil-affairs content: programmes, beneficiary groups, the ministry's remit.
DOMAIN = re.compile(
    "低保|最低生活保障|特困|五保|临时救助|医疗救助|社会救助|救助|救济|民政|养老|敬老|残疾|孤儿|"
    "留守|困境儿童|殡葬|福利|慈善|优抚|抚恤|退役军人|高龄|困难群众|社会保障|保障标准|补贴|津贴|"
    "低保|最低生活保障|特困|養老|殘疾|孤兒|救濟|福彩|彩票|社区|社會|社区养老|居家养老")
# A figure: digits (ASCII or full-width, with separators) or a Chinese numeral run, a magnitude, a unit.
FIGURE = re.compile(
    r"(?:[0-9０-９][0-9０-９.,，．]*|[一二三四五六七八九十百千两]+)\s*(?:万|亿|萬|億)?\s*"
    r"(?:元|人次|人|户|戶|名|个|個|家|张|張|所|项|項|座|床|件|次)")
SENTENCE_END = re.compile(r"[。！？!?]")


@dataclass(frozen=True)
class SourceQuota:
    file: str  # corpus file name, e.g. gwr_national_1954_2024.jsonl.gz
    dense: int  # passages ranked by civil-affairs figure density
    sparse: int = 0  # passages drawn at random among windows with one or two domain words
    per_record: int = 1  # at most this many passages from one record (non-overlapping)
    bundle: bool = False  # short records (news chunks): bundle whole records of one level
    by_level: bool = False  # split the dense quota evenly over city, county and township (news)
    standoff: bool = False  # the text may not be redistributed: gold keeps offsets, not text
    min_figures: int | None = None  # this source's dense threshold (default: the config's min_dense_figures)
    rank: str = "figures"  # figures: civil-affairs figures per 1,000 characters; relations: the rule tagger's
    #                        relations per 1,000 characters (slower; for passages rich in programme–figure links)


@dataclass(frozen=True)
class PassageConfig:
    corpus_dir: str = "../shared/corpus"
    sources: tuple[SourceQuota, ...] = ()
    min_chars: int = 1000
    max_chars: int = 4000
    target_chars: int = 1800  # a window grows paragraph by paragraph until it holds this many
    max_paragraph: int = 1500  # longer paragraphs are cut at sentence ends first
    min_dense_figures: int = 3  # a dense passage has at least this many domain figures
    traditional_share: float = 0.06  # of all passage characters
    seed: int = 13
    exclude_manifest: str | None = None  # an earlier selection: its records are not chosen again
    exclude_manifests: tuple[str, ...] = ()  # more earlier selections, the same way
    id_prefix: str = ""  # put before each passage number, so a second selection's ids differ from the first's


@dataclass
class Passage:
    id: str
    file: str
    segments: list[dict]  # [{record, start, end, key}] — record: 0-based line in the file
    chars: int
    sha256: str
    kind: str  # dense | sparse
    level: str | None  # national | provincial | city | county | township | law | party | bulletin
    script: str  # simplified | traditional
    opencc: str | None = None  # the OpenCC config applied, when the script was converted
    domain_hits: int = 0
    domain_figures: int = 0
    standoff: bool = False
    title: str | None = None
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "extra"}
        out.update(self.extra)
        return out


LEVEL_OF_FILE = {
    "gwr_national": "national", "gwr_provincial": "provincial", "cpc_congress": "party",
    "stat_bulletins": "bulletin", "laws_regulations": "law",
}
# The most specific administrative suffix a news text names (twice or more) gives its level.
_TOWNSHIP = re.compile(r"[\u4e00-\u9fff]{1,6}(?:镇|乡|街道|村|社区)(?![\u4e00-\u9fff]{0,1}(?:长|政府|党委))")
_COUNTY = re.compile(r"[\u4e00-\u9fff]{1,6}(?:县|区|旗)(?![\u4e00-\u9fff]{0,1}(?:长|委|政府))")
_CITY = re.compile(r"[\u4e00-\u9fff]{1,6}市(?!长|委|场|民|政府)")


def level_of(file: str, text: str) -> str:
    for prefix, level in LEVEL_OF_FILE.items():
        if file.startswith(prefix):
            return level
    for level, pattern in (("township", _TOWNSHIP), ("county", _COUNTY), ("city", _CITY)):
        if len(pattern.findall(text)) >= 2:
            return level
    return "national"  # news that names no local unit


def scorer(rank: str):
    """score, or a score whose second number counts the rule tagger's relations instead of figures."""
    if rank == "figures":
        return score
    if rank != "relations":
        raise InputError(f"rank: {rank!r}; use figures or relations")
    from minzheng_ie.core.record import Doc

    from .rules import RuleTagger

    tagger = RuleTagger()

    def by_relations(text: str) -> tuple[int, int]:
        return len(DOMAIN.findall(text)), len(tagger(Doc("passage", text)).relations)

    return by_relations


def score(text: str) -> tuple[int, int]:
    """(domain_hits, domain_figures) of a text."""
    hits = len(DOMAIN.findall(text))
    figures = 0
    start = 0
    for m in list(SENTENCE_END.finditer(text)) + [None]:
        end = m.end() if m else len(text)
        sentence = text[start:end]
        if DOMAIN.search(sentence):
            figures += len(FIGURE.findall(sentence))
        start = end
    return hits, figures


def script_of(text: str, t2s) -> str:
    """traditional when OpenCC's t2s changes at least 3% of the Han characters."""
    han = [c for c in text if "\u4e00" <= c <= "\u9fff"]
    if not han:
        return "simplified"
    converted = t2s.convert(text)
    changed = sum(a != b for a, b in zip(text, converted)) if len(converted) == len(text) else len(han)
    return "traditional" if changed >= 0.03 * len(han) else "simplified"


def paragraphs(text: str, max_paragraph: int) -> list[tuple[int, int]]:
    """(start, end) of each non-empty paragraph; long ones cut at sentence ends."""
    out = []
    pos = 0
    for line in text.split("\n"):
        start, end = pos, pos + len(line)
        pos = end + 1
        if not line.strip():
            continue
        while end - start > max_paragraph:
            cut = None
            for m in SENTENCE_END.finditer(text, start, start + max_paragraph):
                cut = m.end()
            if cut is None or cut <= start:
                break
            out.append((start, cut))
            start = cut
        out.append((start, end))
    return out


def windows(text: str, cfg: PassageConfig) -> Iterator[tuple[int, int]]:
    paras = paragraphs(text, cfg.max_paragraph)
    for i, (start, _) in enumerate(paras):
        for _, end in paras[i:]:
            if end - start >= cfg.target_chars:
                break
        if cfg.min_chars <= end - start <= cfg.max_chars:
            yield start, end


def read_records(path: Path) -> list[dict]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return [json.loads(line) for line in fh]
    except OSError as exc:
        raise InputError(f"{path}: cannot read the corpus file ({exc}); "
                         f"set corpus_dir to the folder of ../shared/corpus") from exc


def record_key(rec: dict) -> str:
    if rec.get("line") is not None:
        return f"{rec.get('path')}:{rec['line']}"
    return str(rec.get("title") or rec.get("path"))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def select(cfg: PassageConfig) -> list[Passage]:
    import opencc

    t2s = opencc.OpenCC("t2s")
    rng = random.Random(cfg.seed)
    corpus = Path(cfg.corpus_dir)
    chosen: list[Passage] = []
    earlier = [p for m in ((cfg.exclude_manifest,) if cfg.exclude_manifest else ()) + cfg.exclude_manifests
               for p in read_manifest(m)]
    for quota in cfg.sources:
        records = read_records(corpus / quota.file)
        stem = quota.file.split(".")[0]
        skip = {s["record"] for p in earlier if p["file"] == quota.file for s in p["segments"]}
        if quota.bundle:
            picked = _bundles(records, quota, cfg, rng, skip)
        else:
            picked = _windows(records, quota, cfg, rng, skip)
        for n, (kind, segs, level, hits, figs) in enumerate(picked):
            text = _join(records, segs)
            first = records[segs[0]["record"]]
            chosen.append(Passage(
                id=f"{stem}-{cfg.id_prefix}{kind[0]}{n:02d}", file=quota.file, segments=segs, chars=len(text),
                sha256=_sha(text), kind=kind, level=level, script=script_of(text, t2s),
                domain_hits=hits, domain_figures=figs, standoff=quota.standoff,
                title=first.get("title")))
    _convert_scripts(chosen, cfg, rng)
    cache: dict = {}
    for p in chosen:  # lengths and hashes of the final (converted) texts
        text = passage_text(p, corpus, cache, check=False)
        p.chars, p.sha256 = len(text), _sha(text)
    log.info("%d passages, %d characters", len(chosen), sum(p.chars for p in chosen))
    return chosen


def _windows(records, quota: SourceQuota, cfg: PassageConfig, rng: random.Random, skip: set[int]):
    dense, sparse = [], []
    measure = scorer(quota.rank)
    min_figures = cfg.min_dense_figures if quota.min_figures is None else quota.min_figures
    for r, rec in enumerate(records):
        if r in skip:
            continue
        text = rec.get("text") or ""
        per = []
        for start, end in windows(text, cfg):
            hits, figs = measure(text[start:end])
            per.append((figs * 1000 / (end - start), hits, start, end, figs))
            if hits in (1, 2):
                sparse.append((r, start, end, hits, figs))
        per.sort(key=lambda w: (-w[0], -w[1], w[2]))
        taken: list[tuple[int, int]] = []
        for density, hits, start, end, figs in per:
            if len(taken) >= quota.per_record:
                break
            if figs < min_figures or any(start < e and s < end for s, e in taken):
                continue
            taken.append((start, end))
            dense.append((density, hits, r, start, end, figs))
    dense.sort(key=lambda w: (-w[0], -w[1], w[2], w[3]))
    out, n_dense = [], min(quota.dense, len(dense))
    for density, hits, r, start, end, figs in dense[:quota.dense]:
        seg = {"record": r, "start": start, "end": end, "key": record_key(records[r])}
        out.append(("dense", [seg], level_of(quota.file, records[r]["text"][start:end]), hits, figs))
    used = {(r, s) for _, _, r, s, _, _ in dense[:quota.dense]}
    sparse = [w for w in sparse if not any(w[0] == r and abs(w[1] - s) < cfg.max_chars for r, s in used)]
    rng.shuffle(sparse)
    seen_records: set[int] = set()
    for r, start, end, hits, figs in sparse:
        if len(out) >= n_dense + quota.sparse:
            break
        if r in seen_records:
            continue
        seen_records.add(r)
        seg = {"record": r, "start": start, "end": end, "key": record_key(records[r])}
        out.append(("sparse", [seg], level_of(quota.file, records[r]["text"][start:end]), hits, figs))
    return out


def _bundles(records, quota: SourceQuota, cfg: PassageConfig, rng: random.Random, skip: set[int]):
    """Whole short records bundled to at least target_chars: dense ones by level, sparse at random."""
    scored = []
    measure = scorer(quota.rank)
    for r, rec in enumerate(records):
        text = rec.get("text") or ""
        if not text.strip() or r in skip:
            continue
        hits, figs = measure(text)
        scored.append((figs * 1000 / len(text), hits, r, figs, level_of(quota.file, text)))
    out = []
    levels = ("city", "county", "township") if quota.by_level else (None,)
    per_level = [quota.dense // len(levels) + (i < quota.dense % len(levels)) for i in range(len(levels))]
    used: set[int] = set()
    min_figures = cfg.min_dense_figures if quota.min_figures is None else quota.min_figures
    for level, n in zip(levels, per_level):
        pool = sorted((s for s in scored if (level is None or s[4] == level) and s[3] >= min_figures),
                      key=lambda s: (-s[0], -s[1], s[2]))
        out += _fill(records, pool, n, used, "dense", level, cfg)
    sparse_pool = [s for s in scored if s[1] in (1, 2) and s[2] not in used]
    rng.shuffle(sparse_pool)
    out += _fill(records, sparse_pool, quota.sparse, used, "sparse", None, cfg)
    return out


def _fill(records, pool, n, used, kind, level, cfg: PassageConfig):
    out, segs, size = [], [], 0
    for density, hits, r, figs, lvl in pool:
        if len(out) >= n:
            break
        if r in used:
            continue
        length = len(records[r]["text"])
        if size + length + 2 > cfg.max_chars:
            continue
        used.add(r)
        segs.append({"record": r, "start": 0, "end": length, "key": record_key(records[r])})
        size += length + (2 if size else 0)
        if size >= cfg.target_chars:
            text = _join(records, segs)
            h, f = score(text)
            out.append((kind, segs, level or level_of("", text), h, f))
            segs, size = [], 0
    return out


def _convert_scripts(passages: list[Passage], cfg: PassageConfig, rng: random.Random) -> None:
    """Convert simplified passages to traditional until the share is reached (native ones count)."""
    total = sum(p.chars for p in passages)
    trad = sum(p.chars for p in passages if p.script == "traditional")
    # convert dense passages, spread over sources; standoff ones too (the conversion is part of the reference)
    candidates = [p for p in passages if p.script == "simplified" and p.kind == "dense"]
    rng.shuffle(candidates)
    configs = ("s2twp", "s2hk")
    i = 0
    # round-robin over files so every source gets converted passages
    queues: dict[str, list[Passage]] = {}
    for p in candidates:
        queues.setdefault(p.file, []).append(p)
    order: list[Passage] = []
    while any(queues.values()):
        for f in sorted(queues):
            if queues[f]:
                order.append(queues[f].pop(0))
    for p in order:
        if trad >= cfg.traditional_share * total:
            break
        p.opencc = configs[i % 2]
        p.script = "traditional"
        trad += p.chars  # OpenCC's phrase tables can change lengths; recomputed below
        i += 1


def _join(records: list[dict], segments: list[dict]) -> str:
    return "\n\n".join(records[s["record"]]["text"][s["start"]:s["end"]] for s in segments)


def passage_text(p: dict | Passage, corpus_dir: str | Path, cache: dict | None = None, check: bool = True) -> str:
    """The passage's text, rebuilt from the corpus (and converted), checked against its sha256."""
    p = p if isinstance(p, dict) else p.to_json()
    cache = cache if cache is not None else {}
    path = Path(corpus_dir) / p["file"]
    if path not in cache:
        if not path.is_file():
            raise InputError(f"passage {p['id']}: corpus file {path} not found; its text lives there, not in the "
                             f"repository — point MZIE_CORPUS at the corpus folder (../shared/corpus)")
        cache[path] = read_records(path)
    text = _join(cache[path], p["segments"])
    if p.get("opencc"):
        import opencc

        text = opencc.OpenCC(p["opencc"]).convert(text)
    if check and _sha(text) != p["sha256"]:
        raise InputError(f"passage {p['id']}: the text rebuilt from {path} differs from the one annotated "
                         f"(sha256 mismatch); the corpus file has changed — use the version the manifest was made from")
    return text


def write_manifest(passages: list[Passage], path: str | Path) -> None:
    from minzheng_ie.core.record import write_text_atomic

    lines = [json.dumps(p.to_json(), ensure_ascii=False) for p in passages]
    write_text_atomic(Path(path), "\n".join(lines) + "\n")


def read_manifest(path: str | Path) -> list[dict]:
    path = Path(path)
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        raise InputError(f"{path}: cannot read the passage manifest ({exc.strerror})") from exc


def split_passages(passages: list[dict], seed: int, test: float, dev: float,
                   train_only: list[str] = ()) -> dict[str, list[str]]:
    """A document-level train/dev/test split, stratified by source and script.

    Strata: every traditional-script passage in one stratum (there are few, and the test
    split must hold its share of them), sparse passages in one, and each source's dense
    passages in its own. Each stratum is shuffled with the seed and its first
    round(n * test) passages go to test, the next round(n * dev) to dev. `train_only`
    ids (the seed reports, which the rules were written on) always go to train.
    """
    strata: dict[str, list[str]] = {}
    for p in passages:
        key = "traditional" if p["script"] == "traditional" else "sparse" if p["kind"] == "sparse" else p["file"]
        strata.setdefault(key, []).append(p["id"])
    out: dict[str, list[str]] = {"test": [], "dev": [], "train": list(train_only)}
    rng = random.Random(seed)
    for key in sorted(strata):
        ids = sorted(strata[key])
        rng.shuffle(ids)
        n_test, n_dev = round(len(ids) * test), round(len(ids) * dev)
        out["test"] += ids[:n_test]
        out["dev"] += ids[n_test:n_test + n_dev]
        out["train"] += ids[n_test + n_dev:]
    return {k: sorted(v) for k, v in out.items()}


# -- gold stored stand-off --------------------------------------------------------------
# A passage whose text may not be redistributed (the news corpus) is kept in the gold
# export as a reference instead of text: `data.text_ref` holds the manifest entry (file,
# segments, OpenCC config, sha256), and the regions carry offsets and labels but no
# surface text. Reading the export rebuilds the text from the corpus and checks its hash,
# so every command that reads gold works unchanged wherever the corpus is present.

def default_corpus_dir() -> Path:
    """$MZIE_CORPUS, else ../shared/corpus beside the checkout, else beside the working directory."""
    import os

    if os.environ.get("MZIE_CORPUS"):
        return Path(os.environ["MZIE_CORPUS"])
    here = Path(__file__).resolve().parent.parent / ".." / "shared" / "corpus"
    return here if here.is_dir() else Path("../shared/corpus")


REF_KEYS = ("id", "file", "segments", "opencc", "sha256")


def to_standoff(task: dict, passage: dict, text_field: str = "text") -> dict:
    """The task with its text replaced by a reference to the corpus (and region texts dropped)."""
    data = dict(task["data"])
    if _sha(data.pop(text_field)) != passage["sha256"]:
        raise InputError(f"passage {passage['id']}: the annotated text differs from the manifest's (sha256); "
                         f"annotate the text `mzie annotate passages --texts` writes")
    data["text_ref"] = {k: passage.get(k) for k in REF_KEYS}
    out = dict(task, data=data)
    out["annotations"] = [dict(a, result=[_without_text(r) for r in a.get("result") or []])
                          for a in task.get("annotations") or []]
    return out


def _without_text(item: dict) -> dict:
    if item.get("type") != "labels":
        return item
    value = {k: v for k, v in (item.get("value") or {}).items() if k != "text"}
    return dict(item, value=value)


def resolve_standoff(tasks: list[dict], where: str, text_field: str = "text",
                     corpus_dir: str | Path | None = None) -> list[dict]:
    """Fill in the text of every stand-off task from the corpus (in place); returns the tasks."""
    cache: dict = {}
    corpus = Path(corpus_dir) if corpus_dir else None
    for n, task in enumerate(tasks):
        data = task.get("data")
        if not isinstance(data, dict) or text_field in data or "text_ref" not in data:
            continue
        ref = data["text_ref"]
        if not isinstance(ref, dict) or any(k not in ref for k in ("id", "file", "segments", "sha256")):
            raise InputError(f"{where}: task {task.get('id', n)}: text_ref must hold id, file, segments and sha256")
        try:
            data[text_field] = passage_text(ref, corpus or default_corpus_dir(), cache)
        except InputError as exc:
            raise InputError(f"{where}: task {task.get('id', n)}: {exc}") from exc
    return tasks


# -- near-duplicates ----------------------------------------------------------------------
# The news corpus carries the same story from several outlets. Two passages that share text
# must sit in the same part of the split, or the test part is partly seen in training.

def shared_chars(a: str, b: str, min_block: int = 40) -> int:
    """Characters in common runs of at least `min_block` characters (difflib's matching blocks)."""
    from difflib import SequenceMatcher

    blocks = SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
    return sum(x.size for x in blocks if x.size >= min_block)


def near_duplicate_groups(texts: dict[str, str], min_shared: int = 100) -> list[set[str]]:
    """Connected groups of passages that share at least `min_shared` characters pairwise.

    Pairs are first filtered by shared 20-character shingles (every offset: a shared run of
    n characters gives n − 19 of them), so difflib only runs on the few pairs that could
    share that much; a group is a connected component of pairs.
    """
    shingles = {k: {t[i:i + 20] for i in range(0, max(len(t) - 19, 0))} for k, t in texts.items()}
    ids = sorted(texts)
    parent = {k: k for k in ids}

    def root(k):
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            if len(shingles[a] & shingles[b]) >= min_shared // 2 and \
                    shared_chars(texts[a], texts[b]) >= min_shared:
                parent[root(a)] = root(b)
    groups: dict[str, set[str]] = {}
    for k in ids:
        groups.setdefault(root(k), set()).add(k)
    return [g for g in groups.values() if len(g) > 1]


def keep_duplicates_together(split: dict, groups: list[set[str]]) -> list[tuple[str, str, str]]:
    """Move every member of a group to the most held-out part any member is in (test, then dev).

    Returns the moves as (id, from, to); the test part only ever grows, so no passage a test
    score was meant to hold out is ever trained on.
    """
    rank = {"test": 0, "dev": 1, "train": 2}
    where = {i: k for k in ("train", "dev", "test") for i in split[k]}
    moves = []
    for group in groups:
        members = [g for g in sorted(group) if g in where]
        if not members:
            continue
        target = min((where[g] for g in members), key=rank.get)
        for g in members:
            if where[g] != target:
                split[where[g]].remove(g)
                split[target].append(g)
                moves.append((g, where[g], target))
    for k in ("train", "dev", "test"):
        split[k].sort()
    return moves
