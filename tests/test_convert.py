import json

import pytest

from minzheng_ie.core.cli import main
from minzheng_ie.annotation.convert import SplitSpec, split_ids
from minzheng_ie.core.errors import InputError
from minzheng_ie.core.record import read_jsonl

from conftest import GOLD_EXPORT, REPO
from ls_fixtures import ann, region, task


def test_split_is_by_document_seeded_and_complete():
    ids = [f"d{i}" for i in range(10)]
    a = split_ids(ids, SplitSpec(seed=1, dev=0.2, test=0.2))
    assert a == split_ids(list(reversed(ids)), SplitSpec(seed=1, dev=0.2, test=0.2))
    assert sorted(sum(a.values(), [])) == sorted(ids)
    assert (len(a["train"]), len(a["dev"]), len(a["test"])) == (6, 2, 2)
    assert split_ids(ids, SplitSpec(seed=2)) != a
    five = split_ids(ids[:5], SplitSpec())
    assert (len(five["train"]), len(five["dev"]), len(five["test"])) == (3, 1, 1)
    with pytest.raises(InputError):
        split_ids(ids, SplitSpec(dev=0.6, test=0.5))


def test_convert_gold_export(tmp_path):
    out = tmp_path / "data"
    assert main(["annotate", "convert", str(GOLD_EXPORT), "-o", str(out)]) == 0
    manifest = json.loads((out / "split.json").read_text(encoding="utf-8"))
    parts = {name: [d.id for d in read_jsonl(out / f"{name}.jsonl")] for name in ("train", "dev", "test")}
    assert parts == {k: manifest[k] for k in parts}
    everything = list(read_jsonl(out / "all.jsonl"))
    assert sorted(sum(parts.values(), [])) == sorted(d.id for d in everything)
    assert all(d.meta.source or d.meta.year for d in everything)


def test_convert_refuses_errors_unless_told(tmp_path):
    bad = [task(1, "低保资金。", ann(1, [region("x", 0, 3, "低保金", "programme")]), doc_id="bad"),
           task(2, "特困供养。", ann(2, [region("y", 0, 4, "特困供养", "programme")]), doc_id="good")]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(bad, ensure_ascii=False), encoding="utf-8")
    assert main(["annotate", "convert", str(path), "-o", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out" / "all.jsonl").exists()
    assert main(["annotate", "convert", str(path), "-o", str(tmp_path / "out"), "--skip-invalid"]) == 1
    assert [d.id for d in read_jsonl(tmp_path / "out" / "all.jsonl")] == ["good"]
    manifest = json.loads((tmp_path / "out" / "split.json").read_text(encoding="utf-8"))
    assert manifest["skipped_invalid"] == ["bad"]


def pre_1_0(tid, text, *completions):
    """A task as Label Studio before 1.0 exported it: the annotations are `completions`."""
    return {"id": tid, "data": {"text": text}, "completions": list(completions)}


def test_completions_of_an_old_export_are_read_as_annotations(tmp_path, capsys):
    path = tmp_path / "old.json"
    path.write_text(json.dumps([pre_1_0(1, "特困供养。", ann(1, [region("y", 0, 4, "特困供养", "programme")]))],
                               ensure_ascii=False), encoding="utf-8")
    assert main(["annotate", "validate", str(path)]) == 0
    assert "1 labelled task(s), 1 entities" in capsys.readouterr().err
    assert main(["annotate", "convert", str(path), "-o", str(tmp_path / "out")]) == 0
    [doc] = read_jsonl(tmp_path / "out" / "all.jsonl")
    assert [(e.text, e.label) for e in doc.entities] == [("特困供养", "programme")]


def test_convert_and_train_refuse_an_export_without_labelled_documents(tmp_path, capsys):
    path = tmp_path / "empty.json"
    path.write_text(json.dumps([task(1, "特困供养。"), task(2, "低保资金。")], ensure_ascii=False), encoding="utf-8")
    assert main(["annotate", "convert", str(path), "-o", str(tmp_path / "out")]) == 2
    assert "no labelled document (2 task(s) without annotations)" in capsys.readouterr().err
    assert not (tmp_path / "out" / "all.jsonl").exists()
    assert main(["train", "--config", str(REPO / "configs" / "train.yaml"), "--set", f"data={path}",
                 "--set", f"output_dir={tmp_path / 'model'}"]) == 2
    assert "no labelled document" in capsys.readouterr().err
