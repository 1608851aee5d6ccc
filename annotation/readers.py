"""Input documents from files, folders, globs, JSONL and stdin, with encodings detected.

`read_inputs` yields a `Doc` or a `ReadFailure` per document and never raises for a
bad file: one unreadable document must not stop a batch.
"""
from __future__ import annotations

import glob
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Union

from .record import Doc, Meta

TEXT_SUFFIXES = (".txt", ".md")
SUFFIXES = TEXT_SUFFIXES + (".jsonl",)
# Chinese government text comes in these; charset-normalizer picks among them when the
# bytes are not UTF-8 (GB18030 is a superset of GBK and GB2312).
CANDIDATE_ENCODINGS = ["gb18030", "big5", "utf_16"]


@dataclass
class ReadFailure:
    source: str  # file name (and line for JSONL)
    reason: str  # what is wrong and what to do


ReadResult = Union[Doc, ReadFailure]


def decode_bytes(data: bytes) -> tuple[str, str]:
    """(text, encoding name). Raises ValueError with a reason when the bytes are not text.

    The text is exactly the decoded bytes: no newline translation, no normalisation,
    only a byte-order mark is dropped, so offsets refer to what the file says.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    if b"\x00" in data[:4096]:
        # UTF-16 without a BOM shows NULs in ASCII text; anything else with NULs is binary.
        raise ValueError("binary data (NUL bytes); pass text files, or UTF-16 with a byte-order mark")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=CANDIDATE_ENCODINGS).best()
    if best is None:
        raise ValueError(
            "cannot decode as UTF-8, GB18030/GBK, Big5 or UTF-16; convert the file to UTF-8 (e.g. iconv -t UTF-8)"
        )
    return str(best), best.encoding


def _doc_from_text(doc_id: str, text: str, source: str, encoding: str) -> ReadResult:
    if not text.strip():
        return ReadFailure(source, "the document is empty (no text after decoding); remove it or fill it")
    return Doc(doc_id, text, meta=Meta(extra={"file": source, "encoding": encoding}))


def read_text_file(path: Path, doc_id: str) -> ReadResult:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return ReadFailure(str(path), f"cannot read ({exc.strerror}); check the path and permissions")
    try:
        text, enc = decode_bytes(data)
    except ValueError as exc:
        return ReadFailure(str(path), str(exc))
    return _doc_from_text(doc_id, text, str(path), enc)


def read_jsonl_texts(path: Path, prefix: str = "") -> Iterator[ReadResult]:
    """Documents from JSONL with a `text` field (and optional `id`, `meta`); other fields are ignored."""
    name = str(path)
    try:
        fh = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        yield ReadFailure(name, f"cannot read ({exc.strerror}); check the path and permissions")
        return
    with fh:
        try:
            for lineno, line in enumerate(fh, 1):
                where = f"{name}:{lineno}"
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield ReadFailure(where, f"not valid JSON ({exc.msg}); one JSON object per line")
                    continue
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    yield ReadFailure(where, "no string field 'text'; each line needs {\"text\": ...}")
                    continue
                doc_id = str(obj.get("id") or f"{prefix}{lineno}")
                if not obj["text"].strip():
                    yield ReadFailure(where, "the document is empty; remove the line or fill its text")
                    continue
                meta = Meta.from_json(obj.get("meta") if isinstance(obj.get("meta"), dict) else {})
                meta.extra.setdefault("file", where)
                yield Doc(doc_id, obj["text"], meta=meta)
        except UnicodeDecodeError as exc:
            yield ReadFailure(name, f"JSONL must be UTF-8 ({exc.reason} at byte {exc.start}); convert it to UTF-8")


def expand_inputs(inputs: list[str]) -> Iterator[tuple[Path | None, str] | ReadFailure]:
    """(path, doc_id) for every input file, in a stable order; `-` is stdin (path None)."""
    for item in inputs:
        if item == "-":
            yield None, "stdin"
            continue
        p = Path(item)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            if not files:
                yield ReadFailure(item, f"no {'/'.join(SUFFIXES)} files in this folder")
            for f in files:
                yield f, f.relative_to(p).with_suffix("").as_posix()
        elif p.is_file():
            yield p, p.stem
        elif any(ch in item for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True) if Path(m).is_file())
            if not matches:
                yield ReadFailure(item, "the pattern matches no files")
            for m in matches:
                yield m, m.stem
        else:
            yield ReadFailure(item, "no such file or folder")


def read_inputs(inputs: list[str]) -> Iterator[ReadResult]:
    seen: dict[str, int] = {}
    for item in expand_inputs(inputs):
        if isinstance(item, ReadFailure):
            yield item
            continue
        path, doc_id = item
        if path is None:
            raw = sys.stdin.buffer.read()
            try:
                text, enc = decode_bytes(raw)
            except ValueError as exc:
                yield ReadFailure("<stdin>", str(exc))
                continue
            results: list[ReadResult] = [_doc_from_text("stdin", text, "<stdin>", enc)]
        elif path.suffix.lower() == ".jsonl":
            results = read_jsonl_texts(path, prefix=f"{doc_id}:")
        else:
            results = [read_text_file(path, doc_id)]
        for res in results:
            if isinstance(res, Doc):
                # Two inputs with one name (a.txt and a.md): keep both, the second gets a suffix.
                n = seen.get(res.id, 0)
                seen[res.id] = n + 1
                if n:
                    res.id = f"{res.id}~{n + 1}"
            yield res
