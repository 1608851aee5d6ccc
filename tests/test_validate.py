"""Every validation error: named by task, with a fix, and failing the command."""
import json

import pytest

from minzheng_ie.core.cli import main
from minzheng_ie.annotation.validate import validate_export

from ls_fixtures import ann, region, relation, task

TEXT = "支出低保资金47.22亿元。保障低保对象88.72万人。"


def codes_for(tmp_path, tasks):
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    report = validate_export(path)
    return {(i.task, i.code) for i in report.errors}, report, path


CASES = {
    "offset-mismatch": [region("x", 2, 4, "低保资", "programme")],
    "offset-range": [region("x", 40, 45, None, "programme")],
    "overlap": [region("x", 2, 4, "低保", "programme"), region("y", 3, 6, "保资金", "programme")],
    "span-edge": [region("x", 6, 14, "47.22亿元。", "amount")],
    "unknown-label": [region("x", 2, 4, "低保", "scheme")],
    "label-count": [{"id": "x", "type": "labels", "value": {"start": 2, "end": 4, "text": "低保",
                                                           "labels": ["programme", "region"]}}],
    "relation-endpoint": [region("p", 2, 4, "低保", "programme"), relation("p", "gone", "has_amount")],
    "relation-types": [region("p", 2, 4, "低保", "programme"), region("c", 20, 27, "88.72万人", "count"),
                       relation("p", "c", "has_amount")],
    "relation-sentence": [region("p", 2, 4, "低保", "programme"), region("c", 20, 27, "88.72万人", "count"),
                          relation("p", "c", "has_count")],
    "unknown-relation": [region("p", 2, 4, "low", "programme"), region("a", 6, 13, "47.22亿元", "amount"),
                         relation("p", "a", "pays")],
}
CASES["unknown-relation"][0]["value"]["text"] = "低保"


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_error_is_reported_with_task_and_fix(tmp_path, code):
    errors, report, path = codes_for(tmp_path, [task(42, TEXT, ann(1, CASES[code]))])
    assert ("42", code) in errors, report.issues
    issue = next(i for i in report.errors if i.code == code)
    assert str(issue).startswith("task 42:")
    assert any(w in issue.message for w in ("delete", "relabel", "move", "keep", "give", "choose", "fix", "label it")), \
        issue.message
    assert main(["annotate", "validate", str(path)]) == 1


def test_leading_qualifier_and_programme_suffix_break_edge_rules(tmp_path):
    text = "共支出约350万元左右,低保资金。"
    result = [region("a", 3, 9, "约350万元", "amount"), region("p", 12, 16, "低保资金", "programme")]
    errors, report, _ = codes_for(tmp_path, [task(1, text, ann(1, result))])
    messages = " ".join(i.message for i in report.errors)
    assert "'约'" in messages and "'资金'" in messages


def test_empty_and_duplicate_documents(tmp_path):
    tasks = [task(1, "   ", ann(1, [])),
             task(2, TEXT, ann(2, []), doc_id="d1"),
             task(3, TEXT, ann(3, []), doc_id="d2"),
             task(4, "另一篇", ann(4, []), doc_id="d1")]
    errors, _, _ = codes_for(tmp_path, tasks)
    assert ("1", "empty-text") in errors
    assert ("3", "duplicate-text") in errors
    assert ("4", "duplicate-id") in errors


def test_bidirectional_relation_and_missing_label(tmp_path):
    result = [region("p", 2, 4, "低保", "programme"), region("a", 6, 13, "47.22亿元", "amount"),
              {"from_id": "p", "to_id": "a", "type": "relation", "direction": "bi", "labels": []}]
    errors, _, _ = codes_for(tmp_path, [task(5, TEXT, ann(1, result))])
    assert {("5", "relation-direction"), ("5", "relation-label")} <= errors


def test_not_json_is_one_clear_error(tmp_path, capsys):
    path = tmp_path / "export.json"
    path.write_text("label,text\n", encoding="utf-8")
    assert main(["annotate", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not a JSON file" in err and "export the project from Label Studio as 'JSON'" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
