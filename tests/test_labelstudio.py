import json
from pathlib import Path

import pytest
from label_studio_sdk.label_interface import LabelInterface

from minzheng_ie.annotation.labelstudio import doc_to_task, read_export, read_tasks, to_doc
from minzheng_ie.core.schema import checked_labeling_config, labeling_config, load_schema
from minzheng_ie.annotation.validate import validate_export

from ls_fixtures import ann, region, relation, task

# A real export from a Label Studio 1.23 server: two tasks, relations, an annotation and the
# prediction it started from (the plain JSON export lists the second task's predictions as ids).
SAMPLE = Path(__file__).resolve().parent / "data" / "label-studio-export-sample.json"


TEXT = "支出低保资金47.22亿元。"
GOOD = [region("p", 2, 4, "低保", "programme"), region("a", 6, 13, "47.22亿元", "amount"),
        relation("p", "a", "has_amount")]


def write(tmp_path, tasks) -> Path:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    return path


def test_labeling_config_is_valid_for_label_studio():
    xml = checked_labeling_config(load_schema())
    LabelInterface(xml).validate()
    for label in load_schema().entity_labels:
        assert f'value="{label}"' in xml
    assert "<Relations>" in xml and 'granularity="symbol"' in xml


def test_broken_labeling_config_is_rejected_by_label_interface():
    bad = labeling_config(load_schema()).replace('toName="text"', 'toName="nowhere"')
    from label_studio_sdk._legacy.exceptions import LabelStudioValidationErrorSentryIgnored

    with pytest.raises(LabelStudioValidationErrorSentryIgnored, match="nowhere"):
        LabelInterface(bad).validate()


def test_reads_the_shared_label_studio_sample():
    docs, reading = read_export(SAMPLE)
    assert [d.id for d in docs] == ["doc0"]  # the second task has predictions only
    assert reading.unlabelled == ["4"]
    doc = docs[0]
    assert {(e.text, e.label) for e in doc.entities} >= {("浙江省", "region"), ("2551.35万元", "amount")}
    labels = {(doc.text_of(r.head), r.label, doc.text_of(r.tail)) for r in doc.relations}
    assert ("耕地地力保护补贴", "has_amount", "2551.35万元") in labels


def test_cancelled_skipped_ground_truth_wins_and_disagreements_listed():
    newer = ann(3, GOOD[:1], updated="2026-03-01T00:00:00Z", user=3)
    gt = ann(2, GOOD, updated="2026-01-01T00:00:00Z", ground_truth=True, user=2)
    cancelled = ann(4, [], updated="2026-04-01T00:00:00Z", cancelled=True)
    reading = read_tasks([task(7, TEXT, newer, gt, cancelled)])
    chosen = reading.tasks[0]
    assert chosen.annotation_id == 2
    assert len(chosen.disagreements) == 1 and "annotation 3 by user 3" in chosen.disagreements[0]
    assert any(i.code == "disagreement" and i.task == "7" for i in reading.issues)


def test_most_recent_wins_without_ground_truth():
    older = ann(1, GOOD, updated="2026-01-01T00:00:00Z")
    newer = ann(2, GOOD[:2], updated="2026-02-01T00:00:00Z")
    reading = read_tasks([task(1, TEXT, older, newer)])
    assert reading.tasks[0].annotation_id == 2
    only_cancelled = read_tasks([task(2, TEXT, ann(5, GOOD, cancelled=True))])
    assert only_cancelled.unlabelled == ["2"]


def test_utf16_offset_drift_is_repaired_and_reported():
    text = "𠀀𠀀镇发放临时救助金3.5万元"
    # A UTF-16 client counts each astral character twice: 临时救助 is at 5:9 in code points, 7:11 in UTF-16.
    result = [region("p", 7, 11, "临时救助", "programme"), region("a", 12, 17, "3.5万元", "amount"),
              relation("p", "a", "has_amount")]
    reading = read_tasks([task(9, text, ann(1, result))])
    issues = list(reading.issues)
    doc = to_doc(reading.tasks[0], issues)
    assert [(e.start, e.end, e.text) for e in doc.entities] == [(5, 9, "临时救助"), (10, 15, "3.5万元")]
    assert sum(i.code == "utf16-offsets" for i in issues) == 2
    assert all(i.severity == "warning" for i in issues)


def test_left_relations_are_reversed():
    result = GOOD[:2] + [relation("a", "p", "has_amount", direction="left")]
    reading = read_tasks([task(1, TEXT, ann(1, result))])
    doc = to_doc(reading.tasks[0], [])
    r = doc.relations[0]
    assert (doc.text_of(r.head), doc.text_of(r.tail)) == ("低保", "47.22亿元")


def test_prediction_tasks_pass_label_interface(fixture_docs):
    li = LabelInterface(checked_labeling_config(load_schema()))
    for doc in fixture_docs:
        doc.entities = [e.__class__(e.start, e.end, e.label, e.text, e.id, 0.8) for e in doc.entities]
        t = doc_to_task(doc, "rules-test")
        pred = t["predictions"][0]
        assert pred["model_version"] == "rules-test" and pred["score"] == 0.8
        assert li.validate_prediction(pred, return_errors=True) in ([], True), doc.id
        assert all("score" in r for r in pred["result"] if r["type"] == "labels")


def test_prediction_round_trips_through_reader(fixture_docs):
    for doc in fixture_docs:
        t = doc_to_task(doc, "v", as_annotation=True)
        t["id"] = 1
        reading = read_tasks([t])
        back = to_doc(reading.tasks[0], [])
        assert [e.span for e in back.entities] == [e.span for e in doc.entities]
        assert len(back.relations) == len(doc.relations)


def test_validate_passes_a_clean_export(tmp_path):
    report = validate_export(write(tmp_path, [task(1, TEXT, ann(1, GOOD))]))
    assert report.issues == [] and len(report.docs) == 1
