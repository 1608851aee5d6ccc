"""What `mzie tag` writes, per --format, and where its bookkeeping files live.

    jsonl         OUT                 the records, one document per line (the canonical form)
    label-studio  OUT                 Label Studio tasks with the records as scored predictions;
                  OUT.records.jsonl   the records behind them, so a rerun knows what is done
    csv, parquet  OUT/mentions.*      one row per entity, its normalised value flattened
                  OUT/relations.*     one row per relation, both ends spelled out
                  OUT/facts.*         one row per programme mention with its linked figures and regions
                  OUT/records.jsonl   the records the tables are made from
    markup        OUT/<id>.ann        inline markup per document; OUT/records.jsonl as above

Several formats from one tagging pass: `--format jsonl,csv,parquet,label-studio` makes
OUT a folder holding OUT/records.jsonl, OUT/csv/, OUT/parquet/, OUT/tasks.json and
OUT/markup/ (the names in IN_FOLDER) for the formats asked for, with OUT/records.jsonl
always there.

Every format keeps the records JSONL as the source of truth (and the resume state): the other files are
rebuilt from it at the end of each run, each one written atomically. Decimals stay
strings in every table (CSV and Parquet alike) so 47.22亿 is never rounded by a float.
"""
from __future__ import annotations

import csv
import io
import json
from bisect import bisect_right
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from minzheng_ie.core.errors import InputError
from minzheng_ie.core.record import Doc, Entity, atomic_path, write_text_atomic
from minzheng_ie.core.spec import sentence_bounds

FILE_FORMATS = ("jsonl", "label-studio")
DIR_FORMATS = ("csv", "parquet", "markup")
FORMATS = FILE_FORMATS + DIR_FORMATS


# With several formats, OUT is a folder and each format has a fixed name in it.
IN_FOLDER = {"jsonl": "records.jsonl", "csv": "csv", "parquet": "parquet", "label-studio": "tasks.json",
             "markup": "markup"}


@dataclass(frozen=True)
class OutputPaths:
    out: Path
    formats: tuple[str, ...]
    records: Path  # the records JSONL, the resume state: the final output for jsonl, a companion file otherwise
    partial: Path  # the work file records are appended to while a run is going
    errors: Path  # documents that could not be read or tagged (or were read with damage), with reasons

    @property
    def is_dir(self) -> bool:
        return len(self.formats) > 1 or self.formats[0] in DIR_FORMATS

    def targets(self) -> dict[str, Path]:
        """format → where it is written (a file or a folder)."""
        if len(self.formats) == 1:
            return {self.formats[0]: self.out}
        return {f: self.out / IN_FOLDER[f] for f in self.formats}

    def owns(self, path: Path) -> bool:
        """Whether `path` is one of this output's own files (so it must not be read as an input)."""
        path = path.resolve()
        if self.is_dir:
            return path.is_relative_to(self.out.resolve())
        return path in {p.resolve() for p in (self.records, self.partial, self.errors, self.out)}


def parse_formats(fmt: str) -> tuple[str, ...]:
    """`jsonl` or a comma-separated list such as `jsonl,csv,label-studio`, each format once."""
    formats = tuple(dict.fromkeys(f.strip() for f in fmt.split(",") if f.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if not formats or unknown:
        raise InputError(f"--format {fmt!r}: choose one or more of {', '.join(FORMATS)}, separated by commas")
    return formats


def output_paths(out: str | Path, fmt: str) -> OutputPaths:
    """The files of one output; raises InputError when a format is unknown or OUT has the wrong kind."""
    out = Path(out)
    formats = parse_formats(fmt)
    if len(formats) > 1 or formats[0] in DIR_FORMATS:
        if out.exists() and not out.is_dir():
            raise InputError(f"-o {out}: --format {fmt} writes a folder, but this is a file; give a folder name")
        return OutputPaths(out, formats, out / "records.jsonl", out / "records.partial.jsonl", out / "errors.jsonl")
    if out.is_dir():
        raise InputError(f"-o {out}: --format {fmt} writes a file, but this is a folder; give a file name")
    records = out if formats[0] == "jsonl" else out.with_name(out.name + ".records.jsonl")
    return OutputPaths(out, formats, records, out.with_name(out.name + ".partial.jsonl"),
                       out.with_name(out.name + ".errors.jsonl"))


def write_outputs(docs: list[Doc], paths: OutputPaths) -> None:
    """Each format's files from the records (the records file itself is the caller's to write)."""
    for fmt, target in paths.targets().items():
        if fmt == "label-studio":
            write_label_studio(docs, target)
        elif fmt in ("csv", "parquet"):
            write_tables(docs, target, fmt)
        elif fmt == "markup":
            from minzheng_ie.annotation import markup

            target.mkdir(parents=True, exist_ok=True)
            for d in docs:
                write_text_atomic(target / f"{d.id.replace('/', '__')}.ann", markup.to_markup(d))


def write_label_studio(docs: list[Doc], path: Path) -> None:
    # Task by task rather than write_tasks: after a resumed or model-changed run the
    # records may come from different models, and each prediction names its own.
    from minzheng_ie.annotation.labelstudio import doc_to_task
    from minzheng_ie.core.schema import load_schema

    schema = load_schema()
    tasks = [doc_to_task(d, str(d.meta.extra.get("model_version", "unknown")), schema) for d in docs]
    write_text_atomic(path, json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")


# -- tables ------------------------------------------------------------------------------

# Column name → type; str columns may be empty (None), and so may score, sentence and year.
MENTION_COLUMNS: dict[str, type] = {
    "doc_id": str, "file": str, "entity_id": str, "label": str, "start": int, "end": int, "text": str,
    "score": float, "sentence": int, "value": str, "number": str, "unit": str, "qualifier": str, "min": str,
    "max": str, "per": str, "period": str, "region_name": str, "region_level": str, "region_code": str,
}
RELATION_COLUMNS: dict[str, type] = {
    "doc_id": str, "head_id": str, "head_label": str, "head_text": str, "head_start": int, "head_end": int,
    "label": str, "tail_id": str, "tail_label": str, "tail_text": str, "tail_start": int, "tail_end": int,
    "score": float,
}
# Relations from a programme to what the facts table gathers (names as in configs/schema.yaml).
FACT_LINKS = {"has_amount": "amounts", "has_count": "counts", "has_standard": "standards", "in_region": "regions"}
FACT_COLUMNS: dict[str, type] = {
    "doc_id": str, "file": str, "year": int, "jurisdiction": str, "programme_id": str, "programme": str,
    "start": int, "end": int, "sentence": str, "sentence_start": int, "sentence_end": int,
    **{col: str for name in FACT_LINKS.values() for col in (name, f"{name}_json")},
}
TABLES = {"mentions": MENTION_COLUMNS, "relations": RELATION_COLUMNS, "facts": FACT_COLUMNS}
FACT_JOINER = "；"


class Sentences:
    """Sentence bounds of one text (the spec's sentence rule), looked up by offset."""

    def __init__(self, text: str):
        self.text = text
        self.bounds = sentence_bounds(text)
        self._starts = [s for s, _ in self.bounds]

    def index(self, offset: int) -> int | None:
        i = bisect_right(self._starts, offset) - 1
        return i if i >= 0 else None

    def around(self, offset: int) -> tuple[str, int, int]:
        """(sentence text, start, end) with surrounding whitespace and line breaks trimmed."""
        i = self.index(offset)
        s, e = self.bounds[i] if i is not None else (0, len(self.text))
        while s < e and self.text[s].isspace():
            s += 1
        while e > s and self.text[e - 1].isspace():
            e -= 1
        return self.text[s:e], s, e


def decimal_text(x: Any) -> str | None:
    """A number as an exact decimal string: the normaliser writes strings; ints and floats are tolerated."""
    if x is None or isinstance(x, bool) or x == "":
        return None
    if isinstance(x, float):
        return format(Decimal(repr(x)), "f")  # repr is the shortest exact round-trip; "f" avoids 1E+20
    if isinstance(x, Decimal):
        return format(x, "f")
    return str(x)


def _text(x: Any) -> str | None:
    return None if x is None or x == "" else str(x)


def _score(x: Any) -> float | None:
    return None if x is None else round(float(x), 4)


def value_columns(e: Entity) -> dict[str, str | None]:
    """The entity's normalised value, flattened; every column is None when it does not apply."""
    v = e.value
    out: dict[str, str | None] = {c: None for c in ("value", "number", "unit", "qualifier", "min", "max", "per",
                                                     "period", "region_name", "region_level", "region_code")}
    if v is None:
        return out
    out["value"] = json.dumps(v, ensure_ascii=False, default=str)
    if not isinstance(v, dict):
        return out
    number = v.get("yuan") if v.get("yuan") not in (None, "") else v.get("number")
    out.update(number=decimal_text(number), unit=_text(v.get("unit")), qualifier=_text(v.get("qualifier")),
               min=decimal_text(v.get("min")), max=decimal_text(v.get("max")), per=_text(v.get("per")),
               period=_text(v.get("period")))
    # name/level/code only mean a division for regions; another type may reuse the key names
    if v.get("type") == "region" or e.label == "region":
        out.update(region_name=_text(v.get("name")), region_level=_text(v.get("level")),
                   region_code=_text(v.get("code")))
    return out


def mention_rows(doc: Doc, sentences: Sentences | None = None) -> list[dict]:
    sentences = sentences or Sentences(doc.text)
    file = _text(doc.meta.extra.get("file"))
    return [{"doc_id": doc.id, "file": file, "entity_id": e.id, "label": e.label, "start": e.start, "end": e.end,
             "text": e.text, "score": _score(e.score), "sentence": sentences.index(e.start), **value_columns(e)}
            for e in doc.entities]


def relation_rows(doc: Doc) -> list[dict]:
    by_id = doc.entity_by_id()
    rows = []
    for r in doc.relations:
        head, tail = by_id.get(r.head), by_id.get(r.tail)
        if head is None or tail is None:  # records are checked on reading; a dangling end has nothing to show
            continue
        rows.append({
            "doc_id": doc.id, "head_id": head.id, "head_label": head.label, "head_text": head.text,
            "head_start": head.start, "head_end": head.end, "label": r.label, "tail_id": tail.id,
            "tail_label": tail.label, "tail_text": tail.text, "tail_start": tail.start, "tail_end": tail.end,
            "score": _score(r.score),
        })
    return rows


def fact_rows(doc: Doc, sentences: Sentences | None = None) -> list[dict]:
    """One row per programme mention with what the relations link to it."""
    sentences = sentences or Sentences(doc.text)
    by_id = doc.entity_by_id()
    linked: dict[str, dict[str, list[Entity]]] = {}
    for r in doc.relations:
        if r.label in FACT_LINKS and r.tail in by_id:
            linked.setdefault(r.head, {}).setdefault(FACT_LINKS[r.label], []).append(by_id[r.tail])
    rows = []
    for p in doc.entities:
        if p.label != "programme":
            continue
        sentence, s_start, s_end = sentences.around(p.start)
        row: dict[str, Any] = {
            "doc_id": doc.id, "file": _text(doc.meta.extra.get("file")), "year": doc.meta.year,
            "jurisdiction": doc.meta.jurisdiction, "programme_id": p.id, "programme": p.text, "start": p.start,
            "end": p.end, "sentence": sentence, "sentence_start": s_start, "sentence_end": s_end,
        }
        for name in FACT_LINKS.values():
            ents = sorted(linked.get(p.id, {}).get(name, []), key=lambda e: (e.start, e.end))
            row[name] = FACT_JOINER.join(e.text for e in ents) or None
            row[f"{name}_json"] = json.dumps([{"text": e.text, "start": e.start, "end": e.end, "value": e.value}
                                              for e in ents], ensure_ascii=False, default=str)
        rows.append(row)
    return rows


def table_rows(docs: list[Doc]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {name: [] for name in TABLES}
    for d in docs:
        sentences = Sentences(d.text)  # once per document, shared by mentions and facts
        out["mentions"] += mention_rows(d, sentences)
        out["relations"] += relation_rows(d)
        out["facts"] += fact_rows(d, sentences)
    return out


def write_tables(docs: list[Doc], folder: Path, fmt: str) -> None:
    writer: Callable[[Path, list[dict], dict[str, type]], None] = _write_csv if fmt == "csv" else _write_parquet
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in table_rows(docs).items():
        writer(folder / f"{name}.{fmt}", rows, TABLES[name])


def _write_csv(path: Path, rows: list[dict], columns: dict[str, type]) -> None:
    # UTF-8 without a byte-order mark; None is written as an empty cell.
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        w.writerow([row.get(c) for c in columns])
    write_text_atomic(path, buf.getvalue())


def _write_parquet(path: Path, rows: list[dict], columns: dict[str, type]) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise InputError("--format parquet needs pyarrow (pip install pyarrow); or use --format csv") from exc
    types = {str: pa.string(), int: pa.int64(), float: pa.float64()}
    schema = pa.schema([(c, types[t]) for c, t in columns.items()])
    table = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows], schema=schema)
    with atomic_path(path) as tmp:  # a killed run never leaves half a table
        pq.write_table(table, str(tmp))
