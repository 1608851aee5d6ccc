"""Corpus counts for data cards, computed from the data (never typed by hand)."""
from __future__ import annotations

from collections import Counter

from minzheng_ie.core.record import Doc
from minzheng_ie.core.schema import load_schema


def _script(d: Doc) -> str:
    corpus = d.meta.extra.get("corpus") or {}
    if corpus.get("script"):
        return corpus["script"] + (f" (OpenCC {corpus['opencc']})" if corpus.get("opencc") else "")
    import opencc

    from .passages import script_of

    return script_of(d.text, opencc.OpenCC("t2s"))


def groups_of(d: Doc) -> dict[str, str]:
    """The source, level and script a document counts under in a data card."""
    corpus = d.meta.extra.get("corpus") or {}
    return {"source": (corpus.get("file") or "seed reports").split(".")[0],
            "level": corpus.get("level") or "seed report", "script": _script(d)}


def corpus_stats(docs: list[Doc]) -> dict:
    schema = load_schema()
    grouped: dict[str, dict[str, dict]] = {"source": {}, "level": {}, "script": {}}
    for d in docs:
        for by, name in groups_of(d).items():
            row = grouped[by].setdefault(name, {"documents": 0, "characters": 0, "entities": 0, "relations": 0,
                                                **{lab: 0 for lab in schema.entity_labels}})
            row["documents"] += 1
            row["characters"] += len(d.text)
            row["entities"] += len(d.entities)
            row["relations"] += len(d.relations)
            for e in d.entities:
                row[e.label] = row.get(e.label, 0) + 1
    ents = Counter(e.label for d in docs for e in d.entities)
    rels = Counter(r.label for d in docs for r in d.relations)
    return {
        "documents": len(docs),
        "characters": sum(len(d.text) for d in docs),
        "entities": sum(ents.values()),
        "relations": sum(rels.values()),
        "entities_per_label": {lab: ents.get(lab, 0) for lab in schema.entity_labels},
        "relations_per_label": {lab: rels.get(lab, 0) for lab in schema.relation_labels},
        "groups": {by: dict(sorted(rows.items())) for by, rows in grouped.items()},
        "per_document": [
            {"id": d.id, "characters": len(d.text), "entities": len(d.entities), "relations": len(d.relations),
             **{lab: sum(1 for e in d.entities if e.label == lab) for lab in schema.entity_labels}}
            for d in docs
        ],
    }


def stats_markdown(s: dict) -> str:
    lines = [f"{s['documents']} documents, {s['characters']} characters, {s['entities']} entities, "
             f"{s['relations']} relations.", ""]
    lines += ["| entity label | count |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in s["entities_per_label"].items()]
    lines += ["", "| relation label | count |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in s["relations_per_label"].items()]
    labels = list(s["entities_per_label"])
    for by, rows in s.get("groups", {}).items():
        if len(rows) < 2:
            continue
        lines += ["", f"| {by} | documents | characters | entities | relations | " + " | ".join(labels) + " |",
                  "|---|---:|---:|---:|---:|" + "---:|" * len(labels)]
        lines += [f"| {name} | {r['documents']} | {r['characters']} | {r['entities']} | {r['relations']} | "
                  + " | ".join(str(r[lab]) for lab in labels) + " |" for name, r in rows.items()]
    lines += ["", "| document | characters | entities | relations | " + " | ".join(labels) + " |",
              "|---|---:|---:|---:|" + "---:|" * len(labels)]
    for d in s["per_document"]:
        lines.append(f"| {d['id']} | {d['characters']} | {d['entities']} | {d['relations']} | "
                     + " | ".join(str(d[lab]) for lab in labels) + " |")
    return "\n".join(lines) + "\n"
