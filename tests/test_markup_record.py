import json

import jsonschema
import pytest

from minzheng_ie.annotation import markup
from minzheng_ie.core.errors import InputError
from minzheng_ie.core.record import RECORD_JSON_SCHEMA, Doc, Entity, read_jsonl, write_jsonl


def test_markup_offsets_are_code_points(fixture_docs):
    for doc in fixture_docs:
        assert doc.problems() == []
        for e in doc.entities:
            assert doc.text[e.start:e.end] == e.text
    astral = next(d for d in fixture_docs if d.id == "astral")
    region = next(e for e in astral.entities if e.label == "region")
    assert (region.start, region.end) == (2, 5)  # one code point per astral character, not two


def test_markup_round_trip(fixture_docs):
    for doc in fixture_docs:
        again = markup.parse(markup.to_markup(doc), doc.id)
        assert again.to_json() == doc.to_json()


def test_markup_rejects_broken_input():
    with pytest.raises(InputError, match="malformed"):
        markup.parse("支出[[低保|programme资金")
    with pytest.raises(InputError, match="no entity has"):
        markup.parse("[[低保|programme|p]]\n#rel p has_amount a")
    with pytest.raises(InputError, match="used twice"):
        markup.parse("[[低保|programme|p]][[低保|programme|p]]")


def test_records_validate_against_json_schema_and_round_trip(tmp_path, fixture_docs, gold_docs):
    path = tmp_path / "docs.jsonl"
    docs = fixture_docs + gold_docs
    assert write_jsonl(docs, path) == len(docs)
    raw = path.read_text(encoding="utf-8")
    assert "\\u" not in raw  # UTF-8, not ASCII-escaped
    for line in raw.splitlines():
        jsonschema.validate(json.loads(line), RECORD_JSON_SCHEMA)
    back = list(read_jsonl(path))
    assert [d.to_json() for d in back] == [d.to_json() for d in docs]


def test_record_problems_are_reported():
    doc = Doc("d", "重庆市低保", [Entity(0, 3, "region", "重庆", "T1"), Entity(3, 5, "programme", "低保", "T1")])
    problems = doc.problems()
    assert any("used twice" in p for p in problems)
    assert any("!= text[0:3]" in p for p in problems)


def test_read_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "text": "x"}\n{not json\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.jsonl:2: not valid JSON"):
        list(read_jsonl(path))
    path.write_text('{"id": "a", "text": "低保", "entities": [{"start": 0, "end": 2, "label": "programme", '
                    '"text": "低", "id": "T1"}]}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.jsonl:1 \(id 'a'\)"):
        list(read_jsonl(path))


def test_sorted_renumbers_ids_and_keeps_relations(fixture_docs):
    doc = fixture_docs[0]
    doc.entities.reverse()
    s = doc.sorted()
    assert [e.id for e in s.entities] == [f"T{i}" for i in range(1, len(s.entities) + 1)]
    by_id = s.entity_by_id()
    assert {(by_id[r.head].text, by_id[r.tail].text, r.label) for r in s.relations} == {
        ("低保", "47.22亿元", "has_amount"), ("低保", "88.72万人", "has_count")}
