"""`mzie annotate validate`: every check an export must pass before it trains or scores anything.

Each problem names the task and the fix. Warnings (offsets repaired, annotators who
disagree) do not fail validation; errors do.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .labelstudio import ExportReading, Issue, read_export
from minzheng_ie.core.record import Doc
from minzheng_ie.core.schema import Schema, load_schema
from minzheng_ie.core.spec import edge_problem, sentence_index


@dataclass
class Report:
    docs: list[Doc]
    issues: list[Issue]
    unlabelled: list[str]

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    def failed_docs(self) -> set[str]:
        """Doc ids with at least one error (task ids mapped back to documents)."""
        by_task = {d.meta.extra.get("ls_task_id", d.id): d.id for d in self.docs}
        return {by_task.get(i.task, i.task) for i in self.errors}


def check_doc(doc: Doc, task: str, schema: Schema) -> list[Issue]:
    """Spec checks on one record (offsets are already consistent: see labelstudio.to_doc)."""
    out: list[Issue] = []
    if not doc.text.strip():
        out.append(Issue(task, "empty-text", "the task text is empty; delete the task or import the document again"))
        return out
    ents = doc.entity_by_id()
    for e in doc.entities:
        if e.label and e.label not in schema.entities:
            out.append(Issue(task, "unknown-label",
                             f"entity {e.text!r} at {e.start}:{e.end} has label {e.label!r}, which is not in "
                             f"configs/schema.yaml ({', '.join(schema.entities)}); relabel it"))
        why = edge_problem(e.text, e.label)
        if why:
            out.append(Issue(task, "span-edge", f"{e.label} {e.text!r} at {e.start}:{e.end}: {why}"))
    spans = sorted(doc.entities, key=lambda e: (e.start, e.end))
    for a, b in zip(spans, spans[1:]):
        if b.start < a.end:
            out.append(Issue(task, "overlap",
                             f"{a.label} {a.text!r} at {a.start}:{a.end} overlaps {b.label} {b.text!r} at "
                             f"{b.start}:{b.end}; spans never overlap or nest — keep the longer, more specific one"))
    sent = sentence_index(doc.text)
    seen = set()
    for r in doc.relations:
        h, t = ents.get(r.head), ents.get(r.tail)
        if h is None or t is None:
            continue  # reported by the reader as relation-endpoint
        desc = f"relation {h.text!r} -{r.label or '?'}-> {t.text!r}"
        if r.label and r.label not in schema.relations:
            out.append(Issue(task, "unknown-relation",
                             f"{desc}: label {r.label!r} is not one of {', '.join(schema.relations)}; relabel it"))
        elif r.label and not schema.relation_allowed(r.label, h.label, t.label):
            spec = schema.relations[r.label]
            right = schema.relation_for(h.label, t.label)
            hint = f"; {h.label} -> {t.label} is {right!r}" if right else ""
            out.append(Issue(task, "relation-types",
                             f"{desc}: {r.label} runs {'/'.join(spec.head)} -> {'/'.join(spec.tail)}, not "
                             f"{h.label} -> {t.label}{hint}; fix the direction or the label"))
        if sent[h.start] != sent[t.start]:
            out.append(Issue(task, "relation-sentence",
                             f"{desc}: the two ends are in different sentences; relations are annotated within "
                             f"one sentence only — delete it"))
        if r.head == r.tail:
            out.append(Issue(task, "relation-self", f"{desc}: a relation needs two different entities"))
        key = (r.head, r.tail, r.label)
        if key in seen:
            out.append(Issue(task, "relation-duplicate", f"{desc} is drawn twice; delete one", "warning"))
        seen.add(key)
    return out


def validate_docs(docs: list[Doc], reading: ExportReading | None = None, schema: Schema | None = None) -> Report:
    schema = schema or load_schema()
    issues = list(reading.issues) if reading else []
    first_by_hash: dict[str, str] = {}
    first_by_id: dict[str, str] = {}
    for doc in docs:
        task = str(doc.meta.extra.get("ls_task_id", doc.id))
        issues.extend(check_doc(doc, task, schema))
        digest = hashlib.sha1(doc.text.encode("utf-8")).hexdigest()
        if doc.text.strip() and digest in first_by_hash:
            issues.append(Issue(task, "duplicate-text",
                                f"same text as task {first_by_hash[digest]}; keep one of them (delete this task)"))
        first_by_hash.setdefault(digest, task)
        if doc.id in first_by_id:
            issues.append(Issue(task, "duplicate-id",
                                f"doc_id {doc.id!r} is also used by task {first_by_id[doc.id]}; give each document "
                                f"its own doc_id in the task data"))
        first_by_id.setdefault(doc.id, task)
    issues.sort(key=lambda i: (_task_key(i.task), i.severity != "error", i.code))
    return Report(docs, issues, list(reading.unlabelled) if reading else [])


def validate_export(path: str | Path, schema: Schema | None = None) -> Report:
    docs, reading = read_export(path, schema)
    return validate_docs(docs, reading, schema)


def _task_key(task: str) -> tuple:
    return (0, int(task), "") if task.isdigit() else (1, 0, task)
