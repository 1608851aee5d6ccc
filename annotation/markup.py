"""Inline markup: a readable way to write annotated text, for fixtures and hand annotation.

    支出[[低保|programme|p1]]资金[[47.22亿元|amount|a1]],保障[[低保|programme|p2]]对象[[88.72万人|count|c1]]。
    #rel p1 has_amount a1; p2 has_count c1

`[[surface|label]]` or `[[surface|label|id]]` marks an entity. A line starting with
`#rel` lists relations `HEAD LABEL TAIL` between ids; it is removed together with the
line break before it, so the text with markup removed is the document text exactly.
`to_markup` writes the same form back, so an annotator can correct pre-annotations in
any text editor and a reviewer can read gold data without Label Studio.
"""
from __future__ import annotations

import re

from minzheng_ie.core.errors import InputError
from minzheng_ie.core.record import Doc, Relation

_ENTITY = re.compile(r"\[\[([^\[\]|]+)\|([A-Za-z_]+)(?:\|([A-Za-z0-9_]+))?\]\]")
_REL_LINE = re.compile(r"\n#rel([^\n]*)")


def parse(markup: str, doc_id: str = "doc", where: str = "markup") -> Doc:
    rel_chunks: list[str] = []
    body = _REL_LINE.sub(lambda m: rel_chunks.append(m.group(1)) or "", markup)
    if body.startswith("#rel"):
        raise InputError(f"{where}: a #rel line must follow the text line it belongs to, not open the file")
    doc = Doc(doc_id, "")
    pieces, pos, last = [], 0, 0
    names: dict[str, str] = {}
    spans = []
    for m in _ENTITY.finditer(body):
        pieces.append(body[last:m.start()])
        pos += m.start() - last
        surface, label, name = m.groups()
        spans.append((pos, pos + len(surface), label, name))
        pieces.append(surface)
        pos += len(surface)
        last = m.end()
    pieces.append(body[last:])
    doc.text = "".join(pieces)
    leftover = _ENTITY.sub("", body)
    bad = re.search(r"\[\[|\]\]", leftover)
    if bad:
        raise InputError(f"{where}: malformed entity markup near {leftover[max(0, bad.start() - 10):bad.end() + 10]!r}; "
                         f"write [[surface|label]] or [[surface|label|id]]")
    for start, end, label, name in spans:
        ent = doc.add(start, end, label)
        if name:
            if name in names:
                raise InputError(f"{where}: entity id {name!r} is used twice; ids must be unique in a document")
            names[name] = ent.id
    for chunk in rel_chunks:
        for item in filter(None, (x.strip() for x in chunk.split(";"))):
            parts = item.split()
            if len(parts) != 3:
                raise InputError(f"{where}: relation {item!r} must read 'HEAD LABEL TAIL'")
            head, label, tail = parts
            for ref in (head, tail):
                if ref not in names:
                    raise InputError(f"{where}: relation {item!r} names id {ref!r}, which no entity has")
            doc.relations.append(Relation(names[head], names[tail], label))
    return doc


def to_markup(doc: Doc) -> str:
    """Markup for `doc`: every entity with its id; relations on a #rel line after the head's line."""
    out, pos = [], 0
    for e in sorted(doc.entities, key=lambda e: e.start):
        if "\n" in e.text:
            raise ValueError(f"doc {doc.id}: entity {e.id} {e.text!r} crosses a line break; markup cannot hold it")
        out.append(doc.text[pos:e.start])
        out.append(f"[[{e.text}|{e.label}|{e.id}]]")
        pos = e.end
    out.append(doc.text[pos:])
    lines = "".join(out).split("\n")
    by_id = doc.entity_by_id()
    rels: dict[int, list[str]] = {}
    for r in doc.relations:
        line = doc.text.count("\n", 0, by_id[r.head].start)
        rels.setdefault(line, []).append(f"{r.head} {r.label} {r.tail}")
    for line in sorted(rels, reverse=True):
        lines.insert(line + 1, "#rel " + "; ".join(rels[line]))
    return "\n".join(lines)
