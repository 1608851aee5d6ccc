"""Input documents from files, folders, globs, JSONL and stdin, with encodings detected.

`read_inputs` yields a `Doc` or a `ReadFailure` per document and never raises for a
bad file: one unreadable document must not stop a batch. It is `plan_inputs` (ids, no
decoding) then `read_unit` per planned piece, so the reading can happen on another machine.

Plain text (.txt, .md) is kept exactly as decoded. HTML, DOCX and PDF are reduced to
their text (visible text, paragraphs and tables, the text layer), one paragraph or
table row per line; that extracted text is the `Doc.text` every offset refers to, and
`meta.extra["format"]` says where it came from.
"""
from __future__ import annotations

import codecs
import glob
import io
import json
import logging
import re
import sys
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Union

from .record import Doc, Meta

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md")
# .shtml is what many Chinese government sites serve their articles as.
HTML_SUFFIXES = (".html", ".htm", ".shtml", ".xhtml")
SUFFIXES = TEXT_SUFFIXES + HTML_SUFFIXES + (".docx", ".pdf", ".jsonl")
# Office formats operators drop into a report folder that we cannot read: each becomes a
# ReadFailure saying how to convert it, rather than being skipped without a word.
UNSUPPORTED = {
    ".doc": "old Word .doc is not supported; open it in Word or WPS and save it as .docx",
    ".wps": "WPS .wps is not supported; open it in WPS and save it as .docx",
}
FORMAT_OF_SUFFIX = {".txt": "text", ".md": "markdown", ".docx": "docx", ".pdf": "pdf",
                    **{s: "html" for s in HTML_SUFFIXES}}
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


# A UTF-8 file with a few damaged bytes (a scraper cut a character, a bad copy) is read
# with U+FFFD in their place when they are at most 1% of its bytes: 1% of a 3-byte-per-
# character report is about one character in 33 — damage, not a different encoding.
# Anything worse is still rejected: it is more likely a file in another encoding.
MAX_REPLACED_SHARE = 0.01


def repaired_utf8(data: bytes) -> tuple[str, int]:
    """(text with U+FFFD for each ill-formed sequence, number of bytes replaced)."""
    text = data.decode("utf-8", "replace")
    replacements = text.count("\ufffd") - data.count("\ufffd".encode("utf-8"))
    # the valid bytes re-encode as they were; each replacement character encodes to 3 bytes
    kept = len(text.encode("utf-8", "surrogatepass")) - 3 * replacements
    return text, len(data) - kept


def decode_text(data: bytes) -> tuple[str, str, int]:
    """(text, encoding, bytes replaced): `decode_bytes`, and where that finds no encoding, UTF-8
    with U+FFFD for damaged bytes if they are at most MAX_REPLACED_SHARE of the file."""
    try:
        return (*decode_bytes(data), 0)
    except ValueError as exc:
        if b"\x00" in data[:4096]:
            raise
        text, replaced = repaired_utf8(data)
        if replaced > MAX_REPLACED_SHARE * len(data):
            raise ValueError(f"{exc} ({replaced:,} of {len(data):,} bytes are not UTF-8, over the "
                             f"{MAX_REPLACED_SHARE:.0%} that is read as damage)") from exc
        return text, "utf-8", replaced


def _doc_from_text(doc_id: str, text: str, source: str, **extra: object) -> ReadResult:
    if not text.strip():
        return ReadFailure(source, "the document is empty (no text after decoding); remove it or fill it")
    return Doc(doc_id, text, meta=Meta(extra={"file": source, **extra}))


def read_text_file(path: Path, doc_id: str) -> ReadResult:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return ReadFailure(str(path), f"cannot read ({exc.strerror}); check the path and permissions")
    try:
        text, enc, replaced = decode_text(data)
    except ValueError as exc:
        return ReadFailure(str(path), str(exc))
    fmt = FORMAT_OF_SUFFIX.get(path.suffix.lower(), "text")
    return _doc_from_text(doc_id, text, str(path), encoding=enc, format=fmt, **_replaced(replaced))


def _replaced(n: int) -> dict:
    """The meta field that records damaged bytes read as U+FFFD; absent when there were none."""
    return {"replaced_bytes": n} if n else {}


def read_document(path: Path, doc_id: str) -> ReadResult:
    """One file that is not JSONL, read by the reader its suffix names; any other suffix is
    read as plain text, so `mzie tag notes.log` still works."""
    suffix = path.suffix.lower()
    if suffix in UNSUPPORTED:
        return ReadFailure(str(path), UNSUPPORTED[suffix])
    extract = EXTRACTORS.get(FORMAT_OF_SUFFIX.get(suffix, ""))
    if extract is None:
        return read_text_file(path, doc_id)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return ReadFailure(str(path), f"cannot read ({exc.strerror}); check the path and permissions")
    if not data:
        return ReadFailure(str(path), "the file is empty (0 bytes); download or export it again")
    try:
        text, extra = extract(data, str(path))
    except ValueError as exc:  # every extractor reports an unreadable file this way, with its reason
        return ReadFailure(str(path), str(exc))
    return _doc_from_text(doc_id, text, str(path), **extra)


# -- assembling extracted text ----------------------------------------------------------

class _Lines:
    """Extracted text built line by line.

    A soft break ends the current line only if it has text, so nested blocks give one
    line, not a stack of empty ones; a hard break (<br>) always ends it. `cell` puts a
    tab between table cells, so a table row stays one line and one clause: the rules
    link a figure to the programme in its own clause, and a row is exactly that.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.parts: list[str] = []
        self.has_text = False

    def add(self, s: str) -> None:
        if s:
            self.parts.append(s)
            self.has_text = self.has_text or not s.isspace()

    def cell(self) -> None:
        if self.has_text:
            self.parts.append("\t")

    def soft_break(self) -> None:
        if self.has_text:
            self.hard_break()
        self.parts = []

    def hard_break(self) -> None:
        self.lines.append("".join(self.parts))
        self.parts, self.has_text = [], False

    def text(self) -> str:
        """The lines, tidied: no space at either end of a line, one tab between cells,
        and at most one blank line in a row (where the page had an intended gap)."""
        self.soft_break()
        out: list[str] = []
        for line in "\n".join(self.lines).split("\n"):
            line = re.sub(r" {2,}", " ", re.sub(r"[ \t]*\t[ \t]*", "\t", line)).strip()
            if line or (out and out[-1]):
                out.append(line)
        while out and not out[-1]:
            out.pop()
        return "\n".join(out)


# -- HTML -------------------------------------------------------------------------------

_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)", re.I)
_META_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]+)", re.I)
# Pages labelled gb2312 or gbk routinely contain characters only GBK/GB18030 has (browsers
# decode all three labels as GBK); likewise big5 pages with HKSCS characters.
_CHARSET_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "csgb2312": "gb18030",
                      "gb_2312-80": "gb18030", "cp936": "gb18030", "big5": "big5hkscs", "x-x-big5": "big5hkscs",
                      "cn-big5": "big5hkscs"}
# Labels that say nothing about Chinese text: server defaults (latin-1) on pages that are
# really GBK or UTF-8, and utf-16 in an ASCII-compatible file, which browsers ignore too.
_UNTRUSTED_CHARSETS = ("iso-8859-1", "latin1", "latin-1", "us-ascii", "ascii", "windows-1252", "cp1252",
                       "utf-16", "utf-16le", "utf-16be", "utf-32")
_DROPPED_TAGS = frozenset({
    "head", "title", "script", "style", "noscript", "template",  # never shown as text
    "iframe", "object", "embed", "svg", "math",  # embedded content, not the page's text
    "select",  # drop-downs (e.g. links to other sites) show one option, not the list
})
_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details", "dialog",
    "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3",
    "h4", "h5", "h6", "header", "hgroup", "hr", "html", "legend", "li", "main", "menu", "nav", "ol", "p",
    "pre", "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
})
_CELL_TAGS = frozenset({"td", "th"})
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_WHITESPACE = re.compile(r"\s+")
# A line break in the source between two Chinese characters is the editor wrapping a line,
# not a space (CSS Text drops it the same way); kept, it would split words like 临时 救助.
_WIDE = "\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
_WRAP_BETWEEN_WIDE = re.compile(rf"(?<=[{_WIDE}])[ \t\r]*\n\s*(?=[{_WIDE}])")


def _declared_charset(data: bytes) -> str | None:
    head = data[:8192]
    m = _XML_DECL.match(head) or _META_CHARSET.search(head)
    return m.group(1).decode("ascii").lower() if m else None


def _codec_for(label: str, source: str) -> str | None:
    if label in _UNTRUSTED_CHARSETS:
        return None
    try:
        return codecs.lookup(_CHARSET_SUPERSETS.get(label, label)).name
    except LookupError:
        log.warning("%s: unknown declared charset %r; detecting the encoding instead", source, label)
        return None


def decode_html(data: bytes, source: str = "<html>") -> tuple[str, str]:
    """(text, encoding): the charset the page declares (meta charset, XML declaration) when the
    bytes fit it, else the detection `decode_bytes` does. Raises ValueError like decode_bytes."""
    has_bom = data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"))
    label = None if has_bom or b"\x00" in data[:4096] else _declared_charset(data)
    codec = _codec_for(label, source) if label else None
    if codec:
        try:
            return data.decode(codec), codec
        except UnicodeDecodeError as exc:
            # A wrong label is common (a template says utf-8, the CMS writes GBK).
            log.warning("%s: declares charset %s but is not (%s at byte %d); detecting the encoding instead",
                        source, label, exc.reason, exc.start)
    return decode_bytes(data)


def _is_hidden(el) -> bool:
    return el.get("hidden") is not None or bool(_HIDDEN_STYLE.search(el.get("style") or ""))


def _tag(el) -> str:
    return el.tag.lower() if isinstance(el.tag, str) else ""


def _is_simple_cell(cell) -> bool:
    """A cell holding one paragraph at most stays on its row's line; a cell holding more
    (a layout table wrapping a whole article) is laid out as blocks."""
    blocks = 0
    for d in cell.iterdescendants():
        tag = _tag(d)
        if tag in ("table", "br"):
            return False
        blocks += tag in _BLOCK_TAGS
        if blocks > 1:
            return False
    return True


def _add_html_text(s: str | None, out: _Lines, pre: bool) -> None:
    if not s:
        return
    if not pre:  # as a browser shows it: any run of whitespace is one space
        out.add(_WHITESPACE.sub(" ", _WRAP_BETWEEN_WIDE.sub("", s)))
        return
    for i, piece in enumerate(s.split("\n")):
        if i:
            out.hard_break()
        out.add(piece)


def _walk_html(root, out: _Lines) -> None:
    """Depth first, in document order, without recursion: pages with unclosed tags nest
    thousands deep. An "open" step writes the element's own text and queues its children,
    a "close" step ends its block and writes its tail (the text after it)."""
    stack: list[tuple[str, object, bool, bool]] = [("open", root, False, False)]
    while stack:
        step, el, pre, flag = stack.pop()
        if step == "close":
            if flag:  # the element was a block
                out.soft_break()
            _add_html_text(el.tail, out, pre)
            continue
        tag, in_cell = _tag(el), flag
        if not tag or tag in _DROPPED_TAGS or _is_hidden(el):
            _add_html_text(el.tail, out, pre)  # the tail is the parent's text: shown even if el is not
            continue
        in_pre = pre or tag == "pre"
        simple_cell = tag in _CELL_TAGS and _is_simple_cell(el)
        breaks = not in_cell and (tag in _BLOCK_TAGS or (tag in _CELL_TAGS and not simple_cell))
        if tag == "br":
            out.hard_break()
        elif simple_cell:
            out.cell()
        elif breaks:
            out.soft_break()
        _add_html_text(el.text, out, in_pre)
        stack.append(("close", el, pre, breaks))
        stack.extend(("open", child, in_pre, in_cell or simple_cell) for child in reversed(el))


def html_text(data: bytes, source: str = "<html>") -> tuple[str, dict]:
    """The visible text of an HTML page: no scripts, styles, head or hidden elements; one
    line per block (paragraph, heading, list item, table row)."""
    from lxml import etree, html

    text, encoding = decode_html(data, source)
    # The text is already decoded: hand lxml UTF-8 and say so, so a meta charset in the page
    # cannot make it decode a second time.
    # huge_tree: libxml2 otherwise stops at 256 levels and drops the rest of the page.
    parser = html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, huge_tree=True)
    try:
        root = html.document_fromstring(text.encode("utf-8"), parser=parser)
    except etree.LxmlError as exc:  # ParserError "Document is empty" for a page without elements
        raise ValueError(f"not readable as HTML ({exc}); check that the file is a web page") from exc
    fatal = [e for e in parser.error_log if e.level_name == "FATAL"]
    if fatal:  # libxml2 stops there and keeps what it had; say so rather than lose text unseen
        log.warning("%s: the HTML parser stopped at line %d (%s); text after it is missing",
                    source, fatal[0].line, fatal[0].message)
    out = _Lines()
    _walk_html(root, out)
    visible = out.text()
    if not visible:
        raise ValueError("the page has no visible text (only scripts, styles or hidden elements); "
                         "save the page after it has loaded in a browser, or pass its text as .txt")
    return visible, {"encoding": encoding, "format": "html"}


# -- DOCX -------------------------------------------------------------------------------

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old binary Office files (.doc, .xls)


def _docx_errors() -> tuple[type[BaseException], ...]:
    """What python-docx raises on a damaged package: its own errors, the zip and XML layers'
    errors, and the KeyError/AttributeError/TypeError it lets through when a part or a
    relationship is missing."""
    from docx.exceptions import PythonDocxError
    from docx.opc.exceptions import OpcError
    from lxml import etree

    return (OpcError, PythonDocxError, zipfile.BadZipFile, zlib.error, EOFError, etree.LxmlError,
            KeyError, AttributeError, TypeError, IndexError)


def _docx_problem(exc: BaseException) -> str:
    if isinstance(exc, ValueError) and "not a Word file" in str(exc):
        # python-docx found a package whose main part is a workbook, a presentation, ...
        return ("a ZIP package but not a Word document (an .xlsx or .pptx renamed?); give it its real "
                "extension, or save it as .docx")
    return (f"damaged DOCX ({type(exc).__name__}: {exc}); open it in Word or WPS and save it again, "
            f"or export it as .txt")


def _is_simple_docx_cell(cell) -> bool:
    return not cell.tables and sum(1 for p in cell.paragraphs if p.text.strip()) <= 1


def _docx_table(table, out: _Lines) -> None:
    # row.cells repeats a merged cell for every grid column and row it spans; its text
    # belongs in the output once, so each underlying cell element is written once.
    seen = set()
    for row in table.rows:
        for cell in row.cells:
            if cell._tc in seen:
                continue
            seen.add(cell._tc)
            if _is_simple_docx_cell(cell):
                out.cell()
                out.add(" ".join(p.text.replace("\n", " ").strip() for p in cell.paragraphs))
            else:
                out.soft_break()
                _docx_blocks(cell, out)
                out.soft_break()
        out.soft_break()


def _docx_blocks(container, out: _Lines) -> None:
    """Paragraphs and tables in document order (the body, or a table cell)."""
    from docx.table import Table

    for block in container.iter_inner_content():
        if isinstance(block, Table):
            _docx_table(block, out)
        else:
            out.add(block.text)
            out.soft_break()


def docx_text(data: bytes, source: str = "<docx>") -> tuple[str, dict]:
    """The body of a Word document: paragraphs one per line, table rows one per line with
    cells separated by tabs, in document order (headers, footers and comments left out)."""
    import docx

    if data.startswith(_OLE_MAGIC):
        raise ValueError("an old Word .doc file named .docx; open it in Word or WPS and save it as .docx")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ValueError("not a DOCX file (not a ZIP package: truncated, or another format renamed); "
                         "save it again from Word or WPS as .docx")
    try:
        document = docx.Document(io.BytesIO(data))
        out = _Lines()
        _docx_blocks(document, out)
    except (ValueError, *_docx_errors()) as exc:
        raise ValueError(_docx_problem(exc)) from exc
    text = out.text()
    if not text:
        raise ValueError("the document has no text (images only?); OCR the images, or remove the file")
    return text, {"format": "docx"}


# -- PDF --------------------------------------------------------------------------------

_SENTENCE_END = tuple("。！？；：!?;:")


def _pdf_errors() -> tuple[type[BaseException], ...]:
    """What pypdf raises on a damaged file: its own errors, and the builtin errors its object
    parser lets through on malformed streams (seen when fuzzing it)."""
    from pypdf.errors import PyPdfError

    return (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError, NotImplementedError,
            zlib.error, RecursionError)


def _width(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)


def _unwrap(page: str) -> str:
    """Rejoin the visual lines of a wrapped paragraph.

    A PDF's text layer breaks lines where the page did, mid-sentence and even mid-word
    (临时\\n救助), and a line break ends a sentence for every later stage. A line is joined
    to the next when it is full (within 10% of the page's widest line), does not end a
    sentence or clause, and has no run of spaces (table rows do; they stay lines).
    """
    lines = [line.strip() for line in page.splitlines()]
    widest = max((_width(line) for line in lines), default=0)
    out: list[str] = []
    joining = False
    for line in lines:
        if joining and line:
            sep = " " if out[-1][-1].isascii() and out[-1][-1].isalnum() and line[0].isascii() else ""
            out[-1] += sep + line
        else:
            out.append(line)
        last = out[-1] if line else ""
        joining = (bool(last) and widest >= 20 and _width(line) >= 0.9 * widest
                   and not last.endswith(_SENTENCE_END) and "  " not in line)
    return "\n".join(out).strip()


def _open_pdf(data: bytes):
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(data))
        # pypdf has tried the empty password already; asking again tells whether it worked
        # (many official PDFs are encrypted only to restrict printing or copying).
        locked = reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED
    except DependencyError as exc:
        raise ValueError(f"the PDF is AES-encrypted and cannot be decrypted here ({exc}); "
                         f"pip install cryptography, or decrypt it with qpdf --decrypt") from exc
    except _pdf_errors() as exc:
        raise ValueError(f"damaged PDF ({type(exc).__name__}: {exc}); repair it (e.g. qpdf in.pdf out.pdf) "
                         f"or export the report to PDF again") from exc
    if locked:
        raise ValueError("the PDF is encrypted with a password; decrypt it first "
                         "(e.g. qpdf --password=PASSWORD --decrypt in.pdf out.pdf)")
    return reader


def pdf_text(data: bytes, source: str = "<pdf>") -> tuple[str, dict]:
    """The text layer, page by page, pages separated by a blank line."""
    from pypdf.errors import DependencyError

    if b"%PDF-" not in data[:1024]:
        raise ValueError("not a PDF (no %PDF- header); if it is another format, give it its real extension")
    reader = _open_pdf(data)
    pages: list[str] = []
    try:
        for page in reader.pages:
            pages.append(_unwrap(page.extract_text() or ""))
    except (DependencyError, *_pdf_errors()) as exc:
        raise ValueError(f"page {len(pages) + 1} cannot be read ({type(exc).__name__}: {exc}); repair the PDF "
                         f"(e.g. qpdf in.pdf out.pdf) or export it to PDF again") from exc
    if not pages:
        raise ValueError("the PDF has no pages; export the report to PDF again")
    empty = [n for n, text in enumerate(pages, 1) if not text]
    if len(empty) == len(pages):
        raise ValueError("no text layer; OCR it first (a scanned PDF? e.g. ocrmypdf -l chi_sim in.pdf out.pdf)")
    extra: dict = {"format": "pdf", "pages": len(pages)}
    if empty:
        log.warning("%s: pages %s have no text layer (scanned?); their text is missing", source, empty)
        extra["pages_without_text"] = empty
    return "\n\n".join(text for text in pages if text), extra


EXTRACTORS: dict[str, Callable[[bytes, str], tuple[str, dict]]] = {
    "html": html_text, "docx": docx_text, "pdf": pdf_text,
}


def jsonl_line(raw: bytes, where: str, default_id: str) -> ReadResult | None:
    """One line of a JSONL input: a Doc, a failure naming `where` (file:line), or None for a blank line.
    Lines are decoded one by one, so one damaged line does not cost the rest of the file."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ReadFailure(where, f"JSONL must be UTF-8 ({exc.reason} at byte {exc.start} of the line); "
                                  f"convert the file to UTF-8")
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return ReadFailure(where, f"not valid JSON ({exc.msg}); one JSON object per line")
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return ReadFailure(where, "no string field 'text'; each line needs {\"text\": ...}")
    if not obj["text"].strip():
        return ReadFailure(where, "the document is empty; remove the line or fill its text")
    meta = Meta.from_json(obj.get("meta") if isinstance(obj.get("meta"), dict) else {})
    meta.extra.setdefault("file", where)
    meta.extra.setdefault("format", "jsonl")
    return Doc(str(obj.get("id") or default_id), obj["text"], meta=meta)


def expand_inputs(inputs: list[str]) -> Iterator[tuple[Path | None, str] | ReadFailure]:
    """(path, doc_id) for every input file, in a stable order; `-` is stdin (path None)."""
    for item in inputs:
        if item == "-":
            yield None, "stdin"
            continue
        p = Path(item)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in (*SUFFIXES, *UNSUPPORTED)
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


def count_inputs(inputs: list[str]) -> int:
    """About how many results `read_inputs` yields (a JSONL file: its non-blank lines), without
    decoding anything: a progress bar's total."""
    n = 0
    for item in expand_inputs(inputs):
        path = None if isinstance(item, ReadFailure) else item[0]
        if path is not None and path.suffix.lower() == ".jsonl":
            try:
                with path.open("rb") as fh:
                    n += sum(1 for line in fh if line.strip())
            except OSError:
                n += 1  # read_inputs reports it as one failure
        else:
            n += 1
    return n


# -- planning and reading ------------------------------------------------------------------
#
# Reading is split in two so that it can run where the documents are tagged. `plan_inputs`
# walks the inputs in order and decides every document's id without decoding any file;
# `read_unit` then reads one planned piece. The local engine does both in one process; the
# Ray engine plans on the driver and reads on the workers, with this same code.

# A JSONL input is cut into pieces of about this many bytes (whole lines): about 85,000
# Chinese characters in UTF-8, a few seconds of tagging, so a big JSONL file spreads over workers.
JSONL_PIECE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Unit:
    """A planned piece of input: a file, a run of whole lines of a JSONL file, or stdin's bytes,
    with the ids its documents get, in order (already unique across the whole input)."""
    kind: str  # "file", "jsonl" or "stdin"
    path: str  # as given on the command line: what meta.file and error messages show
    ids: tuple[str, ...]
    size: int = 0  # bytes: what the Ray engine packs work by
    start: int = 0  # jsonl: the byte range of the lines, and the number of the first one
    end: int = 0
    first_line: int = 1
    data: bytes = b""  # stdin: everything read from it (stdin exists only on the planning machine)


def plan_inputs(inputs: list[str], piece_bytes: int = JSONL_PIECE_BYTES) -> Iterator[Unit | ReadFailure]:
    """Every input as units to read, in input order, and failures for inputs that are not there.

    Ids are made unique here, in input order: a second document with an id already planned gets
    `~2` (a.txt and a.md → a, a~2), and so on. A file's id is taken even when the file then cannot
    be read, so which file is `a` does not depend on what could be read this time."""
    seen: dict[str, int] = {}

    def unique(doc_id: str) -> str:
        n = seen.get(doc_id, 0)
        seen[doc_id] = n + 1
        return f"{doc_id}~{n + 1}" if n else doc_id

    for item in expand_inputs(inputs):
        if isinstance(item, ReadFailure):
            yield item
            continue
        path, doc_id = item
        if path is None:
            data = sys.stdin.buffer.read()
            yield Unit("stdin", "<stdin>", (unique("stdin"),), size=len(data), data=data)
        elif path.suffix.lower() == ".jsonl":
            yield from _plan_jsonl(path, f"{doc_id}:", unique, piece_bytes)
        else:
            try:
                size = path.stat().st_size
            except OSError:
                size = 0  # reading it reports why
            yield Unit("file", str(path), (unique(doc_id),), size=size)


def _plan_jsonl(path: Path, prefix: str, unique: Callable[[str], str], piece_bytes: int
                ) -> Iterator[Unit | ReadFailure]:
    """Pieces of whole lines of one JSONL file; each line is parsed once here for its id."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        yield ReadFailure(str(path), f"cannot read ({exc.strerror}); check the path and permissions")
        return
    with fh:
        start = offset = 0
        first, ids = 1, []
        for lineno, raw in enumerate(fh, 1):
            if offset - start >= piece_bytes:
                yield Unit("jsonl", str(path), tuple(ids), offset - start, start, offset, first)
                start, first, ids = offset, lineno, []
            res = jsonl_line(raw, f"{path}:{lineno}", f"{prefix}{lineno}")
            if isinstance(res, Doc):
                ids.append(unique(res.id))
            offset += len(raw)
        if offset > start:
            yield Unit("jsonl", str(path), tuple(ids), offset - start, start, offset, first)


def read_unit(unit: Unit) -> list[ReadResult]:
    """The documents (or failures) of one planned unit, with the ids the plan gave them."""
    if unit.kind == "file":
        return [read_document(Path(unit.path), unit.ids[0])]
    if unit.kind == "stdin":
        try:
            text, enc, replaced = decode_text(unit.data)
        except ValueError as exc:
            return [ReadFailure("<stdin>", str(exc))]
        return [_doc_from_text(unit.ids[0], text, "<stdin>", encoding=enc, format="text", **_replaced(replaced))]
    return _read_jsonl_piece(unit)


def _read_jsonl_piece(unit: Unit) -> list[ReadResult]:
    try:
        with open(unit.path, "rb") as fh:
            fh.seek(unit.start)
            data = fh.read(unit.end - unit.start)
    except OSError as exc:
        return [ReadFailure(unit.path, f"cannot read ({exc.strerror}); check the path and permissions")]
    ids = iter(unit.ids)
    out: list[ReadResult] = []
    for lineno, raw in enumerate(data.split(b"\n"), unit.first_line):  # lines as the plan counted them
        res = jsonl_line(raw, f"{unit.path}:{lineno}", "")
        if isinstance(res, Doc):
            res.id = next(ids, "")
            if not res.id:  # the file changed between planning and reading
                return out + [ReadFailure(unit.path, "the file changed while it was being read; run again")]
        if res is not None:
            out.append(res)
    return out


def read_inputs(inputs: list[str]) -> Iterator[ReadResult]:
    """Every document of the inputs (or a failure saying why not), in input order."""
    for unit in plan_inputs(inputs):
        if isinstance(unit, ReadFailure):
            yield unit
        else:
            yield from read_unit(unit)
