"""The document record that flows through every stage, and its JSONL form.

A `Doc` is the decoded input text, unchanged, plus entities with half-open
code-point offsets into it (`text[start:end] == entity.text`), relations between
entity ids, and document metadata. JSONL of `Doc.to_json()` — one document per line,
UTF-8, not ASCII-escaped — is the project's canonical on-disk format.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import InputError


def content_hash(text: str) -> str:
    """sha256 of the text as UTF-8: `meta.content_hash` of a tagged record, and how evaluation
    recognises the same document under another id."""
    # surrogatepass: a lone surrogate from a JSON input still hashes instead of failing
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Entity:
    start: int
    end: int
    label: str
    text: str
    id: str = ""
    score: float | None = None
    value: dict | None = None  # normalised figure or region, filled by the normaliser

    @property
    def span(self) -> tuple[int, int, str]:
        return (self.start, self.end, self.label)


@dataclass(frozen=True)
class Relation:
    head: str  # entity id
    tail: str  # entity id
    label: str
    score: float | None = None


@dataclass
class Meta:
    source: str | None = None  # publisher line, e.g. 信息来源:洪江市民政局
    year: int | None = None  # report year
    jurisdiction: str | None = None  # the region the report is about
    extra: dict[str, Any] = field(default_factory=dict)  # free fields, stored flat beside the three above

    def to_json(self) -> dict:
        out = {"source": self.source, "year": self.year, "jurisdiction": self.jurisdiction}
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, data: dict | None) -> "Meta":
        data = dict(data or {})
        year = data.pop("year", None)
        if isinstance(year, str) and year.isdigit():
            year = int(year)
        return cls(source=data.pop("source", None), year=year, jurisdiction=data.pop("jurisdiction", None), extra=data)


@dataclass
class Doc:
    id: str
    text: str
    entities: list[Entity] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    meta: Meta = field(default_factory=Meta)
    # (entity list, how many of it are counted, their ids): see _ids_in_use
    _id_cache: tuple | None = field(default=None, init=False, repr=False, compare=False)

    # -- building -----------------------------------------------------------------
    def span(self, start: int, end: int, label: str, *, id: str = "", score: float | None = None,
             value: dict | None = None) -> Entity:
        """An Entity over text[start:end] (not added; see `add`)."""
        return Entity(start, end, label, self.text[start:end], id, score, value)

    def add(self, start: int, end: int, label: str, **kw: Any) -> Entity:
        ent = self.span(start, end, label, **kw)
        if not ent.id:
            ent = replace(ent, id=self._next_id())
        self.entities.append(ent)
        return ent

    def _next_id(self) -> str:
        used = self._ids_in_use()
        n = len(self.entities) + 1
        while f"T{n}" in used:
            n += 1
        used.add(f"T{n}")
        return f"T{n}"

    def _ids_in_use(self) -> set[str]:
        """The entity ids, kept up to date incrementally while `add` appends to the same list:
        rebuilding the set on every add made n adds cost n²/2 steps. A new list (`doc.entities
        = …`) or a shorter one is counted afresh."""
        cache = self._id_cache
        ents = self.entities
        if cache is None or cache[0] is not ents or cache[1] > len(ents):
            cache = self._id_cache = (ents, 0, set())
        _, seen, used = cache
        used.update(e.id for e in ents[seen:])
        self._id_cache = (ents, len(ents), used)
        return used

    def sorted(self) -> "Doc":
        """Entities in text order, ids T1..Tn reassigned in that order, relations remapped."""
        order = sorted(self.entities, key=lambda e: (e.start, e.end, e.label))
        new_id = {e.id: f"T{i}" for i, e in enumerate(order, 1)}
        ents = [replace(e, id=new_id[e.id]) for e in order]
        rels = [replace(r, head=new_id[r.head], tail=new_id[r.tail]) for r in self.relations
                if r.head in new_id and r.tail in new_id]
        rels.sort(key=lambda r: (int(r.head[1:]), int(r.tail[1:]), r.label))
        return Doc(self.id, self.text, ents, rels, self.meta)

    # -- looking up ---------------------------------------------------------------
    def entity_by_id(self) -> dict[str, Entity]:
        return {e.id: e for e in self.entities}

    def text_of(self, entity_id: str) -> str:
        return next((e.text for e in self.entities if e.id == entity_id), entity_id)

    def problems(self) -> list[str]:
        """Internal inconsistencies (offsets, ids, endpoints); empty when the record is sound."""
        out = []
        ids: set[str] = set()
        n = len(self.text)
        for e in self.entities:
            if not e.id:
                out.append(f"entity {e.text!r} at {e.start}:{e.end} has no id")
            elif e.id in ids:
                out.append(f"entity id {e.id!r} is used twice")
            ids.add(e.id)
            if not (0 <= e.start < e.end <= n):
                out.append(f"entity {e.id} offsets {e.start}:{e.end} are outside the text (length {n}) or empty")
            elif self.text[e.start:e.end] != e.text:
                out.append(
                    f"entity {e.id} text {e.text!r} != text[{e.start}:{e.end}] {self.text[e.start:e.end]!r}"
                )
        for r in self.relations:
            for end in (r.head, r.tail):
                if end not in ids:
                    out.append(f"relation {r.head} -{r.label}-> {r.tail}: no entity with id {end!r}")
        return out

    # -- JSON -----------------------------------------------------------------------
    def to_json(self) -> dict:
        def ent(e: Entity) -> dict:
            d: dict[str, Any] = {"id": e.id, "start": e.start, "end": e.end, "label": e.label, "text": e.text}
            if e.score is not None:
                d["score"] = round(float(e.score), 4)
            if e.value is not None:
                d["value"] = e.value
            return d

        def rel(r: Relation) -> dict:
            d: dict[str, Any] = {"head": r.head, "tail": r.tail, "label": r.label}
            if r.score is not None:
                d["score"] = round(float(r.score), 4)
            return d

        return {
            "id": self.id,
            "text": self.text,
            "entities": [ent(e) for e in self.entities],
            "relations": [rel(r) for r in self.relations],
            "meta": self.meta.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "record") -> "Doc":
        if not isinstance(data, dict):
            raise InputError(f"{where}: a record must be a JSON object, got {type(data).__name__}")
        for key in ("id", "text"):
            if not isinstance(data.get(key), str):
                raise InputError(f"{where}: field {key!r} must be a string; every record needs id and text")
        try:
            ents = [
                Entity(int(e["start"]), int(e["end"]), str(e["label"]), str(e["text"]), str(e.get("id", "")),
                       e.get("score"), e.get("value"))
                for e in data.get("entities", [])
            ]
            rels = [Relation(str(r["head"]), str(r["tail"]), str(r["label"]), r.get("score"))
                    for r in data.get("relations", [])]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"{where} (id {data['id']!r}): malformed entity or relation ({exc!r}); entities need "
                f"start, end, label, text and relations need head, tail, label"
            ) from exc
        doc = cls(data["id"], data["text"], ents, rels, Meta.from_json(data.get("meta")))
        problems = doc.problems()
        if problems:
            raise InputError(f"{where} (id {doc.id!r}): {problems[0]}" + (
                f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
        return doc


# The record's JSON form, as a JSON Schema (checked against real records in the tests).
RECORD_JSON_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "minzheng-ie document record",
    "type": "object",
    "required": ["id", "text", "entities", "relations", "meta"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string"},
        "text": {"type": "string", "description": "decoded input text, unchanged"},
        "entities": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "start", "end", "label", "text"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string"},
                    "start": {"type": "integer", "minimum": 0, "description": "code-point offset, inclusive"},
                    "end": {"type": "integer", "minimum": 1, "description": "code-point offset, exclusive"},
                    "label": {"type": "string"},
                    "text": {"type": "string", "description": "equals text[start:end]"},
                    "score": {"type": "number"},
                    "value": {"type": "object"},
                },
            },
        },
        "relations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["head", "tail", "label"],
                "additionalProperties": False,
                "properties": {
                    "head": {"type": "string"},
                    "tail": {"type": "string"},
                    "label": {"type": "string"},
                    "score": {"type": "number"},
                },
            },
        },
        "meta": {
            "type": "object",
            "required": ["source", "year", "jurisdiction"],
            "properties": {
                "source": {"type": ["string", "null"]},
                "year": {"type": ["integer", "null"]},
                "jurisdiction": {"type": ["string", "null"]},
            },
        },
    },
}


def dumps(doc: Doc) -> str:
    return json.dumps(doc.to_json(), ensure_ascii=False)


def read_jsonl(path: str | Path) -> Iterator[Doc]:
    """Records from a JSONL file; a malformed line raises InputError naming file and line."""
    path = Path(path)
    try:
        fh = path.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror})") from exc
    with fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}: not valid JSON ({exc.msg}); one record per line") from exc
            yield Doc.from_json(data, f"{path}:{lineno}")


def write_jsonl(docs: Iterable[Doc], path: str | Path) -> int:
    """Write records atomically (temp file + rename): a killed run never leaves half a file."""
    lines = [dumps(doc) + "\n" for doc in docs]
    write_text_atomic(path, "".join(lines))
    return len(lines)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary file beside `path` for the caller to write; it replaces `path` only when the
    block ends without error, so a killed run never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp creates 0600; give the file the permissions an ordinary open() would (0666 & ~umask)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, content: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(content, encoding="utf-8", newline="\n")
