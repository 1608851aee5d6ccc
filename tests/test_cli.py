"""The README's commands, end to end, through `mzie`."""
import json
import subprocess
import sys

from minzheng_ie.core.cli import main
from minzheng_ie.annotation.labelstudio import load_export
from minzheng_ie.core.record import read_jsonl
from minzheng_ie.annotation.validate import validate_export

from conftest import GOLD_EXPORT, SEEDS


def test_annotate_config_prints_a_checked_config(capsys):
    assert main(["annotate", "config"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("<View>") and "<Relations>" in out and 'value="programme"' in out


def test_main_job_tags_the_shipped_reports(tmp_path):
    out = tmp_path / "seeds.jsonl"
    assert main(["-q", "tag", str(SEEDS), "-o", str(out)]) == 0
    docs = list(read_jsonl(out))
    assert sorted(d.id for d in docs) == sorted(p.stem for p in SEEDS.glob("*.txt"))
    for d in docs:
        assert d.text == (SEEDS / f"{d.id}.txt").read_text(encoding="utf-8")
        assert d.entities and d.relations and d.meta.extra["model_version"].startswith("minzheng-small@")
        assert all(d.text[e.start:e.end] == e.text for e in d.entities)
        assert all(e.value for e in d.entities if e.label in ("amount", "count", "standard"))
    assert not (tmp_path / "seeds.jsonl.errors.jsonl").exists()


def test_default_model_missing_is_one_clear_error(tmp_path, monkeypatch, capsys):
    from minzheng_ie.inference import tag

    monkeypatch.setattr(tag, "DEFAULT_MODEL", tmp_path / "nowhere")
    assert main(["tag", str(SEEDS), "-o", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "--model default" in err and "--model rules" in err
    assert not (tmp_path / "x.jsonl").exists()


def test_a_broken_file_is_reported_and_the_rest_are_tagged(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "good.txt").write_text("支出低保资金47.22亿元。", encoding="utf-8")
    (inputs / "bad.txt").write_bytes(b"\x00\x01binary")
    out = tmp_path / "out.jsonl"
    assert main(["-q", "tag", str(inputs), "-o", str(out)]) == 1
    assert [d.id for d in read_jsonl(out)] == ["good"]
    errors = [json.loads(line) for line in (tmp_path / "out.jsonl.errors.jsonl").read_text().splitlines()]
    assert errors[0]["source"].endswith("bad.txt") and "binary" in errors[0]["reason"]


def test_prelabel_writes_label_studio_tasks_that_validate(tmp_path):
    out = tmp_path / "tasks.json"
    assert main(["-q", "annotate", "prelabel", str(SEEDS / "003_8bdc944e65f53c72.txt"), "-o", str(out)]) == 0
    tasks = load_export(out)
    pred = tasks[0]["predictions"][0]
    assert pred["model_version"].startswith("rules") and 0 < pred["score"] <= 1
    assert any(r["type"] == "relation" for r in pred["result"])
    # As an annotator would: accept every suggestion, then validate the "export".
    tasks[0]["id"] = 1
    tasks[0]["annotations"] = [{"id": 1, "result": pred["result"], "was_cancelled": False}]
    out.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    assert not validate_export(out).errors


def test_gold_stats_agreement_and_eval(tmp_path, capsys):
    assert main(["annotate", "stats", str(GOLD_EXPORT)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["documents"] == 5 and stats["entities"] == sum(stats["entities_per_label"].values())
    assert main(["annotate", "agreement", str(GOLD_EXPORT), str(GOLD_EXPORT)]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["entities"]["micro"]["f1"] == 1.0 and same["relations"]["micro"]["f1"] == 1.0
    assert main(["eval", "--gold", str(GOLD_EXPORT), "--model", "rules", "-o", str(tmp_path / "r")]) == 0
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text(encoding="utf-8"))
    assert 0 < metrics["entities"]["micro"]["f1"] < 1
    assert metrics["entities"]["micro"]["support"] == stats["entities"]


def test_unknown_model_is_one_clear_error(tmp_path, capsys):
    assert main(["tag", str(SEEDS), "-o", str(tmp_path / "x.jsonl"), "--model", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no such model directory" in err and "'rules'" in err and "Traceback" not in err


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "minzheng_ie.core.cli", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for command in ("annotate", "tag", "eval"):
        assert command in out


def test_a_few_bad_bytes_are_tagged_and_listed_as_a_warning(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    data = ("洪江市民政局全年支出城乡低保资金2551.35万元,保障低保对象5719户10833人。" * 3).encode("utf-8")
    (inputs / "scraped.txt").write_bytes(data[:30] + b"\xfe" + data[30:])
    out = tmp_path / "out.jsonl"
    assert main(["-q", "tag", str(inputs), "-o", str(out), "--model", "rules"]) == 0
    [doc] = read_jsonl(out)
    assert doc.meta.extra["replaced_bytes"] == 1 and doc.entities
    [line] = [json.loads(x) for x in (tmp_path / "out.jsonl.errors.jsonl").read_text(encoding="utf-8").splitlines()]
    assert line["severity"] == "warning" and "U+FFFD" in line["reason"] and line["source"].endswith("scraped.txt")
