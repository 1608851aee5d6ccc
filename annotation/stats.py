"""Corpus counts for data cards, computed from the data (never typed by hand)."""
from __future__ import annotations

from collections import Counter

from minzheng_ie.core.record import Doc
from minzheng_ie.core.schema import load_schema


def corpus_stats(docs: list[Doc]) -> dict:
    schema = load_schema()
    ents = Counter(e.label for d in docs for e in d.entities)
    rels = Counter(r.label for d in docs for r in d.relations)
    return {
        "documents": len(docs),
        "characters": sum(len(d.text) for d in docs),
        "entities": sum(ents.values()),
        "relations": sum(rels.values()),
        "entities_per_label": {lab: ents.get(lab, 0) for lab in schema.entity_labels},
        "relations_per_label": {lab: rels.get(lab, 0) for lab in schema.relation_labels},
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
    lines += ["", "| document | characters | entities | relations | " + " | ".join(labels) + " |",
              "|---|---:|---:|---:|" + "---:|" * len(labels)]
    for d in s["per_document"]:
        lines.append(f"| {d['id']} | {d['characters']} | {d['entities']} | {d['relations']} | "
                     + " | ".join(str(d[lab]) for lab in labels) + " |")
    return "\n".join(lines) + "\n"
