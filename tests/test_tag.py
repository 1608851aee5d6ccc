"""`mzie tag`: every output format, resuming after a kill, reruns, and bad inputs in a batch."""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import time

import pytest

from minzheng_ie.core.cli import main
from minzheng_ie.core.errors import InputError
from minzheng_ie.core.record import Doc, Entity, Relation, read_jsonl
from minzheng_ie.annotation.rules import RuleTagger
from minzheng_ie.inference import tag as tag_module
from minzheng_ie.inference.outputs import FACT_COLUMNS, MENTION_COLUMNS, RELATION_COLUMNS, fact_rows, mention_rows
from minzheng_ie.inference.tag import run_batch, tag_inputs

SAMPLE = "重庆市城市低保标准提高到每人每月620元，支出低保资金47.22亿元，保障88.72万人。"


@pytest.fixture(scope="module")
def rules() -> RuleTagger:
    return RuleTagger()


class Counting:
    """The rule tagger, recording which documents it tags; Ctrl-C after `stop_after` documents."""

    def __init__(self, inner: RuleTagger, stop_after: int | None = None, model_version: str | None = None):
        self.inner = inner
        self.model_version = model_version or inner.model_version
        self.calls: list[str] = []
        self.stop_after = stop_after

    def __call__(self, doc: Doc) -> Doc:
        if self.stop_after is not None and len(self.calls) >= self.stop_after:
            raise KeyboardInterrupt
        self.calls.append(doc.id)
        return self.inner(doc)


def report(i: int) -> str:
    return f"第{i}号报告：重庆市城市低保标准提高到每人每月{600 + i}元，支出低保资金{i}.5亿元，保障{i}万人。"


def make_inputs(folder, n: int, start: int = 0):
    folder.mkdir(exist_ok=True)
    for i in range(start, start + n):
        (folder / f"r{i:02d}.txt").write_text(report(i), encoding="utf-8")
    return folder


def read_csv(path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# -- formats ---------------------------------------------------------------------------------

def test_jsonl_records_carry_model_version_and_content_hash(tmp_path, rules):
    inputs = make_inputs(tmp_path / "in", 2)
    out = tmp_path / "out.jsonl"
    res = run_batch([str(inputs)], out, rules)
    assert (res.tagged, res.skipped, res.failed) == (2, 0, [])
    lines = out.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        meta = json.loads(line)["meta"]
        assert meta["model_version"] == rules.model_version
        assert meta["content_hash"] == hashlib.sha256(report(i).encode("utf-8")).hexdigest()
    assert not (tmp_path / "out.jsonl.partial.jsonl").exists() and not (tmp_path / "out.jsonl.errors.jsonl").exists()


def test_csv_tables_end_to_end(tmp_path):
    (tmp_path / "cq.txt").write_text(SAMPLE, encoding="utf-8")
    out = tmp_path / "tables"
    assert main(["-q", "tag", str(tmp_path / "cq.txt"), "-o", str(out), "--format", "csv", "--model", "rules"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["facts.csv", "mentions.csv", "records.jsonl", "relations.csv"]

    mentions = read_csv(out / "mentions.csv")
    assert list(mentions[0]) == list(MENTION_COLUMNS)
    assert [(m["label"], m["text"], m["start"], m["end"]) for m in mentions] == [
        ("region", "重庆市", "0", "3"), ("programme", "城市低保", "3", "7"), ("standard", "每人每月620元", "12", "20"),
        ("programme", "低保", "23", "25"), ("amount", "47.22亿元", "27", "34"), ("count", "88.72万人", "37", "44")]
    assert {m["doc_id"] for m in mentions} == {"cq"} and {m["sentence"] for m in mentions} == {"0"}
    assert mentions[0]["file"].endswith("cq.txt") and mentions[0]["score"] == "0.9"
    by_text = {m["text"]: m for m in mentions}
    assert json.loads(by_text["重庆市"]["value"])["code"] == "500000" and by_text["重庆市"]["region_level"] == "province"
    assert (by_text["47.22亿元"]["number"], by_text["47.22亿元"]["unit"]) == ("4722000000", "")
    assert (by_text["88.72万人"]["number"], by_text["88.72万人"]["unit"]) == ("887200", "人")
    std = by_text["每人每月620元"]
    assert (std["number"], std["per"], std["period"]) == ("620", "person", "month")
    assert by_text["低保"]["value"] == ""  # programmes have no value

    relations = read_csv(out / "relations.csv")
    assert list(relations[0]) == list(RELATION_COLUMNS)
    assert {(r["head_text"], r["label"], r["tail_text"]) for r in relations} == {
        ("城市低保", "in_region", "重庆市"), ("城市低保", "has_standard", "每人每月620元"),
        ("低保", "has_amount", "47.22亿元"), ("低保", "has_count", "88.72万人")}
    amount = next(r for r in relations if r["label"] == "has_amount")
    assert [amount[k] for k in ("head_start", "head_end", "tail_start", "tail_end")] == ["23", "25", "27", "34"]

    facts = read_csv(out / "facts.csv")
    assert list(facts[0]) == list(FACT_COLUMNS)
    city, plain = facts
    assert [city[k] for k in ("programme", "standards", "regions", "amounts")] == \
        ["城市低保", "每人每月620元", "重庆市", ""]
    assert (plain["programme"], plain["amounts"], plain["counts"]) == ("低保", "47.22亿元", "88.72万人")
    assert json.loads(plain["amounts_json"]) == [{"text": "47.22亿元", "start": 27, "end": 34, "value": {
        "type": "amount", "yuan": "4722000000", "qualifier": None, "min": None, "max": None}}]
    assert city["sentence"] == SAMPLE and (city["sentence_start"], city["sentence_end"]) == ("0", str(len(SAMPLE)))
    assert city["jurisdiction"] == "重庆市" and city["year"] == ""


def test_parquet_tables_keep_columns_and_exact_decimals(tmp_path, rules):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "cq.txt").write_text(SAMPLE, encoding="utf-8")

    class Normalising:  # stands in for the normaliser: one amount with an exact value
        model_version = "rules+norm"

        def __call__(self, doc):
            out = rules(doc)
            exact = {"type": "amount", "yuan": "4722000000.00"}
            out.entities = [Entity(e.start, e.end, e.label, e.text, e.id, e.score, exact) if e.label == "amount" else e
                            for e in out.entities]
            return out

    out = tmp_path / "pq"
    run_batch([str(tmp_path / "cq.txt")], out, Normalising(), fmt="parquet")
    mentions = pq.read_table(out / "mentions.parquet")
    assert mentions.column_names == list(MENTION_COLUMNS)
    assert mentions.schema.field("number").type == pa.string() and mentions.schema.field("start").type == pa.int64()
    rows = mentions.to_pylist()
    assert len(rows) == 6 and next(r for r in rows if r["label"] == "amount")["number"] == "4722000000.00"
    assert next(r for r in rows if r["label"] == "region")["number"] is None
    assert pq.read_table(out / "relations.parquet").num_rows == 4
    facts = pq.read_table(out / "facts.parquet").to_pylist()
    assert [f["programme"] for f in facts] == ["城市低保", "低保"]
    assert json.loads(facts[1]["amounts_json"])[0]["value"]["yuan"] == "4722000000.00"


def test_normalised_values_are_flattened_tolerantly():
    doc = Doc("d", SAMPLE)
    doc.add(0, 3, "region", value={"type": "region", "name": "重庆市", "level": "province", "code": "500000"})
    doc.add(3, 7, "programme")
    doc.add(12, 20, "standard", value={"type": "standard", "yuan": "620", "per": "person", "per_text": "人",
                                       "period": "month"})
    doc.add(27, 34, "amount", value={"type": "amount", "yuan": 4722000000, "qualifier": "约", "min": None})
    doc.add(37, 44, "count", value={"type": "count", "number": "887200", "unit": "人"})
    doc.add(23, 25, "programme", value={"type": "programme", "name": "最低生活保障"})  # not a region: no region_*
    by_text = {m["text"]: m for m in mention_rows(doc)}
    def cols(text, *names):
        return [by_text[text][n] for n in names]

    assert cols("重庆市", "region_name", "region_level", "region_code") == ["重庆市", "province", "500000"]
    assert cols("每人每月620元", "number", "per", "period") == ["620", "person", "month"]
    assert cols("47.22亿元", "number", "qualifier", "min") == ["4722000000", "约", None]
    assert cols("88.72万人", "number", "unit") == ["887200", "人"]
    assert by_text["城市低保"]["value"] is None and by_text["低保"]["region_name"] is None
    assert json.loads(by_text["重庆市"]["value"])["code"] == "500000"
    doc.relations = [Relation("T2", "T3", "has_standard")]
    (city, plain) = fact_rows(doc)
    assert city["standards"] == "每人每月620元" and json.loads(city["standards_json"])[0]["value"]["per"] == "person"
    assert plain["standards"] is None and plain["standards_json"] == "[]"


def test_label_studio_tasks_have_scored_predictions(tmp_path, rules):
    (tmp_path / "cq.txt").write_text(SAMPLE, encoding="utf-8")
    out = tmp_path / "tasks.json"
    run_batch([str(tmp_path / "cq.txt")], out, rules, fmt="label-studio")
    tasks = json.loads(out.read_text(encoding="utf-8"))
    pred = tasks[0]["predictions"][0]
    assert tasks[0]["data"]["text"] == SAMPLE and pred["model_version"] == rules.model_version
    assert 0 < pred["score"] <= 1 and len([r for r in pred["result"] if r["type"] == "relation"]) == 4
    assert [d.id for d in read_jsonl(tmp_path / "tasks.json.records.jsonl")] == ["cq"]  # what a rerun resumes from
    again = Counting(rules)
    run_batch([str(tmp_path / "cq.txt")], out, again, fmt="label-studio")
    assert again.calls == [] and json.loads(out.read_text(encoding="utf-8")) == tasks


def test_markup_is_still_written(tmp_path, rules):
    (tmp_path / "cq.txt").write_text(SAMPLE, encoding="utf-8")
    run_batch([str(tmp_path / "cq.txt")], tmp_path / "ann", rules, fmt="markup")
    assert "[[47.22亿元|amount" in (tmp_path / "ann" / "cq.ann").read_text(encoding="utf-8")


# -- resuming ------------------------------------------------------------------------------------

def test_a_killed_run_resumes_without_duplicates_or_retagging(tmp_path, rules):
    inputs = make_inputs(tmp_path / "in", 3)
    out = tmp_path / "out.jsonl"
    run_batch([str(inputs)], out, rules)
    before = out.read_bytes()

    make_inputs(inputs, 5, start=3)  # new reports arrive; the next run is killed after two of them
    killed = Counting(rules, stop_after=2)
    with pytest.raises(KeyboardInterrupt):
        run_batch([str(inputs)], out, killed)
    assert killed.calls == ["r03", "r04"]
    assert out.read_bytes() == before  # the finished output is untouched until the end of a run
    partial = tmp_path / "out.jsonl.partial.jsonl"
    assert [json.loads(line)["id"] for line in partial.read_text(encoding="utf-8").splitlines()] == ["r03", "r04"]
    # a kill in the middle of writing a record leaves half a line: it must be ignored
    with partial.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "r05", "text": "第5号报')

    resumed = Counting(rules)
    res = run_batch([str(inputs)], out, resumed)
    assert resumed.calls == ["r05", "r06", "r07"] and res.skipped == 5
    docs = list(read_jsonl(out))
    assert [d.id for d in docs] == [f"r{i:02d}" for i in range(8)]
    assert all(d.text == report(i) for i, d in enumerate(docs))
    assert not partial.exists()


def test_a_kill_after_the_final_write_does_not_duplicate(tmp_path, rules):
    inputs = make_inputs(tmp_path / "in", 3)
    out = tmp_path / "out.jsonl"
    run_batch([str(inputs)], out, rules)
    # as if killed after writing the output but before removing the work file
    (tmp_path / "out.jsonl.partial.jsonl").write_bytes(out.read_bytes())
    again = Counting(rules)
    run_batch([str(inputs)], out, again)
    assert again.calls == [] and [d.id for d in read_jsonl(out)] == ["r00", "r01", "r02"]


def test_a_killed_run_into_a_folder_resumes(tmp_path, rules):
    inputs = make_inputs(tmp_path / "in", 4)
    out = tmp_path / "tables"
    with pytest.raises(KeyboardInterrupt):
        run_batch([str(inputs)], out, Counting(rules, stop_after=1), fmt="csv")
    assert (out / "records.partial.jsonl").exists() and not (out / "mentions.csv").exists()
    resumed = Counting(rules)
    run_batch([str(inputs)], out, resumed, fmt="csv")
    assert resumed.calls == ["r01", "r02", "r03"]
    assert sorted({f["doc_id"] for f in read_csv(out / "facts.csv")}) == ["r00", "r01", "r02", "r03"]
    assert not (out / "records.partial.jsonl").exists()


def test_a_rerun_with_nothing_new_tags_nothing(tmp_path, rules):
    inputs = make_inputs(tmp_path / "in", 3)
    out = tmp_path / "out.jsonl"
    run_batch([str(inputs)], out, rules)
    before = out.read_bytes()
    again = Counting(rules)
    res = run_batch([str(inputs)], out, again)
    assert again.calls == [] and (res.tagged, res.skipped) == (0, 3)
    assert out.read_bytes() == before and not (tmp_path / "out.jsonl.partial.jsonl").exists()


def test_changed_text_or_model_is_retagged_in_place(tmp_path, rules):
    inputs = make_inputs(tmp_path / "in", 3)
    out = tmp_path / "out.jsonl"
    run_batch([str(inputs)], out, rules)
    (inputs / "r01.txt").write_text("城市低保标准提高到每人每月700元。", encoding="utf-8")
    again = Counting(rules)
    run_batch([str(inputs)], out, again)
    assert again.calls == ["r01"]
    docs = list(read_jsonl(out))
    assert [d.id for d in docs] == ["r00", "r01", "r02"]
    assert docs[1].text.endswith("700元。")
    assert docs[1].meta.extra["content_hash"] == hashlib.sha256(docs[1].text.encode()).hexdigest()

    newer = Counting(rules, model_version="rules-next")
    run_batch([str(inputs)], out, newer)
    assert newer.calls == ["r00", "r01", "r02"]
    assert [d.meta.extra["model_version"] for d in read_jsonl(out)] == ["rules-next"] * 3


def test_earlier_records_are_kept_when_other_inputs_are_tagged(tmp_path, rules):
    first, second = make_inputs(tmp_path / "a", 2), make_inputs(tmp_path / "b", 1, start=5)
    out = tmp_path / "out.jsonl"
    run_batch([str(first)], out, rules)
    run_batch([str(second)], out, rules)
    assert [d.id for d in read_jsonl(out)] == ["r05", "r00", "r01"]


def test_an_output_the_reader_would_read_back_is_refused(tmp_path, rules):
    inputs = make_inputs(tmp_path / "in", 2)
    for fmt, out in (("jsonl", inputs / "out.jsonl"), ("csv", inputs / "tables"), ("jsonl", tmp_path / "in.jsonl")):
        source = [str(tmp_path / "in.jsonl")] if out.name == "in.jsonl" else [str(inputs)]
        if out.name == "in.jsonl":
            out.write_text(json.dumps({"text": SAMPLE}, ensure_ascii=False) + "\n", encoding="utf-8")
        with pytest.raises(InputError, match="output"):
            run_batch(source, out, rules, fmt=fmt)
    assert sorted(p.name for p in inputs.iterdir()) == ["r00.txt", "r01.txt"]


def test_an_output_of_the_wrong_kind_is_refused(tmp_path, rules):
    (tmp_path / "cq.txt").write_text(SAMPLE, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="writes a folder"):
        run_batch([str(tmp_path / "cq.txt")], tmp_path / "notes.txt", rules, fmt="csv")
    other = tmp_path / "other.jsonl"
    other.write_text("not json\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a records file"):
        run_batch([str(tmp_path / "cq.txt")], other, rules)
    assert other.read_text(encoding="utf-8") == "not json\n"


# -- bad inputs ------------------------------------------------------------------------------------

def test_broken_files_are_reported_and_the_rest_written(tmp_path):
    inputs = make_inputs(tmp_path / "in", 2)
    (inputs / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    (inputs / "empty.txt").write_bytes(b"")
    (inputs / "undecodable.txt").write_bytes(b"\x80\x80\x80\x80\x80")
    out = tmp_path / "tables"
    assert main(["-q", "tag", str(inputs), "-o", str(out), "--format", "csv", "--model", "rules"]) == 1
    assert sorted({m["doc_id"] for m in read_csv(out / "mentions.csv")}) == ["r00", "r01"]
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(e["source"].rsplit("/", 1)[-1] for e in errors) == ["binary.txt", "empty.txt", "undecodable.txt"]
    assert all(e["reason"] for e in errors)
    # once the bad files are gone the errors file goes too
    for name in ("binary.txt", "empty.txt", "undecodable.txt"):
        (inputs / name).unlink()
    assert main(["-q", "tag", str(inputs), "-o", str(out), "--format", "csv", "--model", "rules"]) == 0
    assert not (out / "errors.jsonl").exists()


def test_a_tagging_failure_is_reported_and_the_batch_goes_on(tmp_path, rules):
    inputs = make_inputs(tmp_path / "in", 3)

    def flaky(doc):
        if doc.id == "r01":
            raise IndexError("rule table out of range")
        return rules(doc)

    flaky.model_version = rules.model_version
    out = tmp_path / "out.jsonl"
    res = run_batch([str(inputs)], out, flaky)
    assert [d.id for d in read_jsonl(out)] == ["r00", "r02"]
    assert len(res.failed) == 1 and "IndexError" in res.failed[0].reason
    assert "r01.txt" in (tmp_path / "out.jsonl.errors.jsonl").read_text(encoding="utf-8")


def test_an_oversized_document_is_reported_not_tagged(tmp_path, rules):
    inputs = make_inputs(tmp_path / "in", 2)
    big = inputs / "big.txt"
    big.write_text("低保资金" * (13 * 1024 * 1024), encoding="utf-8")  # about 50 MB on disk
    assert big.stat().st_size > 50_000_000
    counting = Counting(rules)
    t0 = time.monotonic()
    res = run_batch([str(inputs)], tmp_path / "out.jsonl", counting)  # the default --max-chars
    assert time.monotonic() - t0 < 30
    assert "big" not in counting.calls and [d.id for d in read_jsonl(tmp_path / "out.jsonl")] == ["r00", "r01"]
    assert len(res.failed) == 1 and "--max-chars" in res.failed[0].reason
    big.unlink()

    res = run_batch([str(inputs)], tmp_path / "small.jsonl", rules, max_chars=40)
    assert {f.source.rsplit("/", 1)[-1] for f in res.failed} == {"r00.txt", "r01.txt"}
    assert "over the --max-chars limit of 40" in res.failed[0].reason


def test_a_missing_model_fails_before_inputs_are_read(tmp_path, monkeypatch, capsys):
    def no_reading(*_):
        raise AssertionError("inputs were read before the model was checked")

    monkeypatch.setattr(tag_module, "plan_inputs", no_reading)
    incomplete = tmp_path / "model"
    incomplete.mkdir()
    (incomplete / "config.json").write_text("{}", encoding="utf-8")
    assert main(["-q", "tag", str(tmp_path), "-o", str(tmp_path / "x.jsonl"), "--model", str(incomplete)]) == 2
    err = capsys.readouterr().err
    assert "missing model.safetensors" in err and "Traceback" not in err
    assert not (tmp_path / "x.jsonl").exists()


def test_the_progress_bar_sees_every_document(tmp_path, capsys):
    from minzheng_ie.inference.cli import progress_bar

    inputs = make_inputs(tmp_path / "in", 3)
    bar = progress_bar(argparse.Namespace(quiet=False))
    assert tag_inputs([str(inputs)], tmp_path / "out.jsonl", progress=bar) == 0
    err = capsys.readouterr().err
    assert "3/3" in err and "chars/s" in err
    assert progress_bar(argparse.Namespace(quiet=True)) is None


class RecordingProgress:
    """Stands in for the CLI's bar: what it is given to count, and the skips it hears of."""

    def __init__(self):
        self.total, self.seen, self.skips = None, [], 0

    def __call__(self, results, total=None):
        self.total = total
        for r in results:
            self.seen.append(r)
            yield r

    def skip(self):
        self.skips += 1


def test_progress_counts_tagged_documents_against_the_planned_total(tmp_path, rules):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i, t in enumerate(["重庆市支出低保资金47.22亿元。", "洪江市保障低保对象5719户。", "民政局召开会议。"]):
        (inputs / f"r{i}.txt").write_text(t, encoding="utf-8")
    first = RecordingProgress()
    run_batch([str(inputs)], tmp_path / "out.jsonl", rules, progress=first)
    # what the bar counts has been through the tagger (a read-only count would have no model_version)
    assert first.total == 3 and [d.meta.extra["model_version"] for d in first.seen] == [rules.model_version] * 3
    (inputs / "r2.txt").write_text("民政局召开会议,发放临时救助金3.5万元。", encoding="utf-8")
    again = RecordingProgress()
    run_batch([str(inputs)], tmp_path / "out.jsonl", rules, progress=again)
    assert (again.total, again.skips, [d.id for d in again.seen]) == (3, 2, ["r2"])


def test_model_loading_is_quiet_unless_verbose(tmp_path):
    import subprocess
    import sys

    (tmp_path / "a.txt").write_text("全年支出城乡低保资金2551.35万元。", encoding="utf-8")
    # main() in this process has set the quieting variables; the child starts without them
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_HUB_", "TRANSFORMERS_"))}
    run = lambda *flags: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "minzheng_ie.core.cli", *flags, "tag", str(tmp_path / "a.txt"), "-o",
         str(tmp_path / f"out{len(flags)}.jsonl")], capture_output=True, text=True, timeout=300, env=env)
    quiet, verbose = run(), run("-v")
    assert quiet.returncode == 0 and "Loading weights" not in quiet.stderr and "chars/s" in quiet.stderr
    assert "Loading weights" in verbose.stderr


def test_several_formats_come_from_one_tagging_pass(tmp_path, rules):
    inputs = make_inputs(tmp_path / "in", 3)
    counting = Counting(rules)
    out = tmp_path / "seeds"
    run_batch([str(inputs)], out, counting, fmt="jsonl,csv,parquet,label-studio")
    assert counting.calls == ["r00", "r01", "r02"]  # each document tagged once for all four formats
    assert sorted(p.name for p in out.iterdir()) == ["csv", "parquet", "records.jsonl", "tasks.json"]
    single = tmp_path / "single.jsonl"
    run_batch([str(inputs)], single, rules)
    assert single.read_text(encoding="utf-8") == (out / "records.jsonl").read_text(encoding="utf-8")
    assert len(json.loads((out / "tasks.json").read_text(encoding="utf-8"))) == 3
    assert read_csv(out / "csv" / "mentions.csv") and (out / "parquet" / "facts.parquet").exists()
    run_batch([str(inputs)], out, counting, fmt="jsonl,csv,parquet,label-studio")
    assert len(counting.calls) == 3  # the rerun reads OUT/records.jsonl and skips all three
    with pytest.raises(InputError, match="one or more of"):
        run_batch([str(inputs)], out, rules, fmt="jsonl,xlsx")


# -- --engine ray, without starting Ray (tests/test_ray.py runs it) -------------------------------

def test_engine_ray_without_the_extra_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    import sys

    make_inputs(tmp_path / "in", 1)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed: importing it fails
    assert main(["-q", "tag", str(tmp_path / "in"), "-o", str(tmp_path / "x.jsonl"), "--model", "rules",
                 "--engine", "ray"]) == 2
    err = capsys.readouterr().err
    assert "pip install -e '.[ray]'" in err and "Traceback" not in err
    assert not (tmp_path / "x.jsonl").exists()


def test_ray_options_need_the_ray_engine(tmp_path, capsys):
    make_inputs(tmp_path / "in", 1)
    assert main(["-q", "tag", str(tmp_path / "in"), "-o", str(tmp_path / "x.jsonl"), "--model", "rules",
                 "--workers", "2"]) == 2
    assert "--engine ray" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["tag", str(tmp_path / "in"), "-o", str(tmp_path / "x.jsonl"), "--engine", "ray", "--workers", "0"])


@pytest.mark.ray  # needs the ray extra: run by make test-ray, not skipped unseen in make test
def test_engine_ray_checks_the_model_before_reading_or_starting_ray(tmp_path, monkeypatch, capsys):
    pytest.importorskip("ray")

    def no_reading(*_):
        raise AssertionError("inputs were read before the model was checked")

    monkeypatch.setattr(tag_module, "plan_inputs", no_reading)
    assert main(["-q", "tag", str(tmp_path), "-o", str(tmp_path / "x.jsonl"), "--model", str(tmp_path / "none"),
                 "--engine", "ray"]) == 2
    assert "no such model directory" in capsys.readouterr().err


def test_ray_pieces_spread_the_work_and_keep_its_order():
    from minzheng_ie.core.readers import ReadFailure, Unit
    from minzheng_ie.inference.ray_engine import MAX_PIECE_BYTES, MIN_PIECE_BYTES, pack, piece_bytes

    assert piece_bytes(10_000, 2) == MIN_PIECE_BYTES  # a small batch: pieces no smaller than the floor
    assert piece_bytes(1600 * 1024, 2) == 100 * 1024  # 8 pieces per worker
    assert piece_bytes(15_000 * 10**6, 160) == MAX_PIECE_BYTES  # 1M reports: capped
    units = [Unit("file", f"f{i}.txt", (f"f{i}",), size=10) for i in range(25)] + [ReadFailure("gone.txt", "no such file")]
    pieces = pack(units, 30)
    assert [len(p) for p in pieces] == [3] * 8 + [2]
    assert [u for p in pieces for u in p] == units


@pytest.mark.ray  # needs the ray extra: run by make test-ray, not skipped unseen in make test
def test_ray_client_addresses_are_refused_with_the_way_that_works(tmp_path, capsys):
    pytest.importorskip("ray")
    make_inputs(tmp_path / "in", 1)
    assert main(["-q", "tag", str(tmp_path / "in"), "-o", str(tmp_path / "x.jsonl"), "--model", "rules",
                 "--engine", "ray", "--address", "ray://head:10001"]) == 2
    err = capsys.readouterr().err
    assert "Ray Client" in err and "--address auto" in err and "ray job submit" in err
