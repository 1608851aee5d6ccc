"""Label Studio JSON exports in, Label Studio tasks with predictions out.

Reading keeps everything an engineer needs to trust the labels: which annotation was
chosen for a task and why, which other annotations disagree with it, and every
offset that had to be repaired. The checks themselves live in `validate.py`.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from minzheng_ie.core.errors import InputError
from minzheng_ie.core.record import Doc, Meta, Relation, write_text_atomic
from minzheng_ie.core.schema import Schema, load_schema

log = logging.getLogger(__name__)


@dataclass
class Issue:
    """One problem found while reading or validating a task."""

    task: str  # task id as Label Studio shows it
    code: str  # stable short name, e.g. "offset-mismatch"
    message: str  # what is wrong and what to do about it
    severity: str = "error"  # "error" fails validation; "warning" was repaired or is informational

    def __str__(self) -> str:
        return f"task {self.task}: [{self.severity} {self.code}] {self.message}"


@dataclass
class Region:
    """An entity region as it appears in a Label Studio result, before any checks."""

    rid: str
    start: int
    end: int
    text: str | None
    labels: list[str]
    score: float | None = None


@dataclass
class RawRelation:
    from_id: str
    to_id: str
    direction: str
    labels: list[str]


@dataclass
class TaskAnnotation:
    """The chosen annotation of one task, as raw regions and relations."""

    task_id: str
    doc_id: str
    text: Any
    meta: dict
    annotation_id: Any
    regions: list[Region]
    relations: list[RawRelation]
    disagreements: list[str] = field(default_factory=list)  # other annotations that differ


@dataclass
class ExportReading:
    tasks: list[TaskAnnotation]
    unlabelled: list[str]  # task ids with no usable annotation
    issues: list[Issue]


def load_export(path: str | Path) -> list[dict]:
    """The list of task objects from a Label Studio JSON export."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{path}: not a JSON file ({exc}); export the project from Label Studio as 'JSON' "
            f"(not JSON_MIN or CONLL, which drop relations)"
        ) from exc
    if isinstance(data, dict) and "data" in data:
        data = [data]  # a single task
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise InputError(f"{path}: expected a JSON list of tasks as Label Studio's JSON export writes it")
    from .passages import resolve_standoff

    return resolve_standoff(data, str(path))


def _ts(ann: dict) -> str:
    return str(ann.get("updated_at") or ann.get("created_at") or "")


def choose_annotation(task: dict) -> tuple[dict | None, list[dict]]:
    """(chosen, others): cancelled ones skipped; ground_truth wins, else the most recently updated.
    Exports from Label Studio before 1.0 call the annotations `completions`."""
    found = task.get("annotations") or task.get("completions") or []
    anns = [a for a in found if isinstance(a, dict) and not a.get("was_cancelled")]
    if not anns:
        return None, []
    ranked = sorted(anns, key=lambda a: (bool(a.get("ground_truth")), _ts(a), a.get("id") or 0), reverse=True)
    return ranked[0], ranked[1:]


def parse_result(result: list, task_id: str, issues: list[Issue]) -> tuple[list[Region], list[RawRelation]]:
    regions, relations = [], []
    if not isinstance(result, list):
        issues.append(Issue(task_id, "bad-result", "annotation result is not a list; re-export the project"))
        return regions, relations
    for i, item in enumerate(result):
        if not isinstance(item, dict):
            issues.append(Issue(task_id, "bad-result", f"result item {i} is not an object; re-export the project"))
            continue
        kind = item.get("type")
        if kind == "relation":
            relations.append(RawRelation(str(item.get("from_id")), str(item.get("to_id")),
                                         item.get("direction") or "right", list(item.get("labels") or [])))
        elif kind == "labels":
            v = item.get("value") or {}
            try:
                start, end = int(v["start"]), int(v["end"])
            except (KeyError, TypeError, ValueError):
                issues.append(Issue(task_id, "bad-region",
                                    f"region {item.get('id')!r} has no numeric start/end; delete and redraw it"))
                continue
            labels = list(v.get("labels") or [])
            regions.append(Region(str(item.get("id") or f"r{i}"), start, end, v.get("text"), labels, item.get("score")))
        else:
            issues.append(Issue(
                task_id, "unknown-result-type",
                f"result item of type {kind!r} is ignored; the project uses only <Labels> regions and relations "
                f"(check the labeling config is `mzie annotate config`)", "warning"))
    return regions, relations


def _result_key(result: list) -> tuple:
    spans, rels = set(), set()
    by_id = {}
    for item in result or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "labels":
            v = item.get("value") or {}
            key = (v.get("start"), v.get("end"), tuple(v.get("labels") or []))
            spans.add(key)
            by_id[str(item.get("id"))] = key
    for item in result or []:
        if isinstance(item, dict) and item.get("type") == "relation":
            rels.add((by_id.get(str(item.get("from_id"))), by_id.get(str(item.get("to_id"))),
                      tuple(item.get("labels") or [])))
    return frozenset(spans), frozenset(rels)


def read_tasks(tasks: list[dict], schema: Schema | None = None) -> ExportReading:
    """Pick one annotation per task and parse it; problems go to `issues`, nothing is raised."""
    schema = schema or load_schema()
    field_name = schema.labeling.text_field
    out, unlabelled, issues = [], [], []
    for n, task in enumerate(tasks):
        tid = str(task.get("id", f"#{n}"))
        data = task.get("data") or {}
        chosen, others = choose_annotation(task)
        if chosen is None:
            unlabelled.append(tid)
            continue
        regions, relations = parse_result(chosen.get("result") or [], tid, issues)
        mine = _result_key(chosen.get("result"))
        disagree = []
        for other in others:
            if _result_key(other.get("result")) != mine:
                who = other.get("completed_by")
                disagree.append(f"annotation {other.get('id')} by user {who} differs from chosen {chosen.get('id')}")
        if disagree:
            reason = "ground_truth" if chosen.get("ground_truth") else "most recent"
            issues.append(Issue(tid, "disagreement",
                                f"{len(disagree)} other annotation(s) differ from the chosen one ({reason}): "
                                + "; ".join(disagree) + ". Review them, or mark one as ground truth", "warning"))
        meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
        out.append(TaskAnnotation(tid, str(data.get("doc_id") or tid), data.get(field_name), dict(meta),
                                  chosen.get("id"), regions, relations, disagree))
    return ExportReading(out, unlabelled, issues)


def utf16_to_codepoint(text: str) -> list[int]:
    """Map every UTF-16 offset (0..len16) to the code-point offset at or after it."""
    table = []
    for i, ch in enumerate(text):
        table.append(i)
        if ord(ch) > 0xFFFF:
            table.append(i + 1)  # the low surrogate has no code point of its own
    table.append(len(text))
    return table


def to_doc(t: TaskAnnotation, issues: list[Issue]) -> Doc | None:
    """The record for one task, with offsets repaired where only UTF-16 drift was wrong.

    Regions whose offsets cannot be trusted are dropped (and reported), so a returned
    Doc is always internally consistent.
    """
    if not isinstance(t.text, str):
        issues.append(Issue(t.task_id, "no-text", "task data has no text field; import tasks as {\"text\": ...}"))
        return None
    text = t.text
    table: list[int] | None = None
    doc = Doc(t.doc_id, text, meta=Meta.from_json(t.meta))
    id_map: dict[str, str] = {}
    for r in t.regions:
        start, end = r.start, r.end
        if r.text is not None and text[start:end] != r.text:
            table = table or utf16_to_codepoint(text)
            if end < len(table) and text[table[start]:table[end]] == r.text:
                issues.append(Issue(
                    t.task_id, "utf16-offsets",
                    f"region {r.rid} {r.text!r}: offsets {start}:{end} counted UTF-16 units around an astral "
                    f"character; repaired to code points {table[start]}:{table[end]}", "warning"))
                start, end = table[start], table[end]
            else:
                issues.append(Issue(
                    t.task_id, "offset-mismatch",
                    f"region {r.rid}: text[{start}:{end}] is {text[start:end]!r} but the region says {r.text!r}; "
                    f"the task text changed after labelling — delete the region and label it again"))
                continue
        if not (0 <= start < end <= len(text)):
            issues.append(Issue(t.task_id, "offset-range",
                                f"region {r.rid}: offsets {start}:{end} lie outside the text (length {len(text)}); "
                                f"delete the region and label it again"))
            continue
        label = r.labels[0] if len(r.labels) == 1 else ""
        ent = doc.add(start, end, label, score=r.score)
        id_map[r.rid] = ent.id
        if len(r.labels) != 1:
            issues.append(Issue(t.task_id, "label-count",
                                f"region {r.rid} {text[start:end]!r} has {len(r.labels)} labels {r.labels}; "
                                f"give it exactly one"))
    for rel in t.relations:
        head, tail = (rel.to_id, rel.from_id) if rel.direction == "left" else (rel.from_id, rel.to_id)
        label = rel.labels[0] if len(rel.labels) == 1 else ""
        if head not in id_map or tail not in id_map:
            missing = head if head not in id_map else tail
            issues.append(Issue(t.task_id, "relation-endpoint",
                                f"relation {head} -> {tail} ({label or 'no label'}) points at region {missing!r}, "
                                f"which is missing or was dropped; delete the relation and draw it again"))
            continue
        if rel.direction == "bi":
            issues.append(Issue(t.task_id, "relation-direction",
                                f"relation {head} <-> {tail} is bidirectional; relations run from the programme "
                                f"to the other entity — set its direction"))
        if len(rel.labels) != 1:
            issues.append(Issue(t.task_id, "relation-label",
                                f"relation {doc.text_of(id_map[head])!r} -> {doc.text_of(id_map[tail])!r} has "
                                f"{len(rel.labels)} labels {rel.labels}; choose exactly one"))
        doc.relations.append(Relation(id_map[head], id_map[tail], label))
    return doc


def read_export(path: str | Path, schema: Schema | None = None) -> tuple[list[Doc], ExportReading]:
    """Records for every labelled task of an export, plus what reading found (see validate.py)."""
    reading = read_tasks(load_export(path), schema)
    docs = []
    for t in reading.tasks:
        doc = to_doc(t, reading.issues)
        if doc is not None:
            doc.meta.extra.setdefault("ls_task_id", t.task_id)
            docs.append(doc)
    return docs, reading


# -- writing ---------------------------------------------------------------------------

def doc_to_result(doc: Doc, schema: Schema, with_scores: bool = True) -> list[dict]:
    lab = schema.labeling
    result: list[dict] = []
    for e in doc.entities:
        item = {
            "id": e.id, "from_name": lab.labels_name, "to_name": lab.text_name, "type": "labels",
            "value": {"start": e.start, "end": e.end, "text": e.text, "labels": [e.label]},
        }
        if with_scores and e.score is not None:
            item["score"] = round(float(e.score), 4)
        result.append(item)
    for r in doc.relations:
        item = {"from_id": r.head, "to_id": r.tail, "type": "relation", "direction": "right", "labels": [r.label]}
        if with_scores and r.score is not None:
            item["score"] = round(float(r.score), 4)
        result.append(item)
    return result


def task_score(doc: Doc) -> float | None:
    """Mean entity score: what Label Studio sorts tasks by ('prediction score')."""
    scores = [e.score for e in doc.entities if e.score is not None]
    return round(sum(scores) / len(scores), 4) if scores else None


def doc_to_task(doc: Doc, model_version: str, schema: Schema | None = None, *, as_annotation: bool = False) -> dict:
    """A Label Studio task for `doc`: its entities as a prediction (or as an annotation, for gold)."""
    schema = schema or load_schema()
    data = {schema.labeling.text_field: doc.text, "doc_id": doc.id, "meta": doc.meta.to_json()}
    task: dict[str, Any] = {"data": data}
    if as_annotation:
        task["annotations"] = [{"result": doc_to_result(doc, schema, with_scores=False), "ground_truth": True,
                                "was_cancelled": False}]
    else:
        pred: dict[str, Any] = {"model_version": model_version, "result": doc_to_result(doc, schema)}
        score = task_score(doc)
        if score is not None:
            pred["score"] = score
        task["predictions"] = [pred]
    return task


def write_tasks(docs: Iterable[Doc], path: str | Path, model_version: str, *, as_annotation: bool = False,
                schema: Schema | None = None) -> int:
    tasks = [doc_to_task(d, model_version, schema, as_annotation=as_annotation) for d in docs]
    if as_annotation:  # an export of labelled tasks: number them as Label Studio would
        for n, task in enumerate(tasks, 1):
            task["id"] = n
    write_text_atomic(path, json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")
    return len(tasks)
