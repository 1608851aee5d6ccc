import json

import pytest

from minzheng_ie.core.cli import main
from minzheng_ie.core.errors import InputError
from minzheng_ie.eval.cv import fold_ids

from conftest import GOLD_EXPORT


def test_folds_partition_the_documents():
    ids = ["d3", "d1", "d2", "d5", "d4"]
    assert fold_ids(ids, None) == [["d1"], ["d2"], ["d3"], ["d4"], ["d5"]]
    two = fold_ids(ids, 2)
    assert sorted(sum(two, [])) == sorted(ids) and len(two) == 2
    with pytest.raises(InputError):
        fold_ids(ids, 1)


def test_rule_baseline_cross_validation_and_resume(tmp_path, capsys):
    cfg = tmp_path / "cv.yaml"
    cfg.write_text(f"train_config: configs/train.yaml\ndata: {GOLD_EXPORT}\noutput_dir: {tmp_path / 'out'}\n"
                   "variants: [{name: rules, system: rules}]\n", encoding="utf-8")
    assert main(["eval", "cv", "--config", str(cfg)]) == 0
    first = json.loads((tmp_path / "out" / "cv.json").read_text(encoding="utf-8"))
    assert len(list((tmp_path / "out" / "rules").glob("fold-*/predictions.jsonl"))) == 5
    assert "| rules |" in capsys.readouterr().out
    assert main(["eval", "cv", "--config", str(cfg)]) == 0  # every fold is reused
    again = json.loads((tmp_path / "out" / "cv.json").read_text(encoding="utf-8"))
    assert again["results"]["rules"]["entities"] == first["results"]["rules"]["entities"]
    assert 0.5 < first["results"]["rules"]["entities"]["micro"]["f1"] < 1
    assert "training_minutes" not in again["results"]["rules"]  # no fold was trained
    # folds trained by an earlier run keep their minutes in fold.json: the table sums them when reused
    for k, fold in enumerate(sorted((tmp_path / "out" / "rules").glob("fold-*"))):
        (fold / "fold.json").write_text(json.dumps({"held_out": [], "training_minutes": 1.5 + k}), encoding="utf-8")
    assert main(["eval", "cv", "--config", str(cfg)]) == 0
    summed = json.loads((tmp_path / "out" / "cv.json").read_text(encoding="utf-8"))["results"]["rules"]
    assert summed["training_minutes"] == 17.5  # 5 × 1.5 + 0 + 1 + 2 + 3 + 4
    assert "summed from their fold.json: rules 17.5" in (tmp_path / "out" / "cv.md").read_text(encoding="utf-8")


def test_a_variant_train_would_refuse_fails_before_the_first_fold(tmp_path, capsys):
    # rules runs first in the table; the bad variant must stop the run before any fold is tagged
    cfg = tmp_path / "cv.yaml"
    cfg.write_text(f"train_config: configs/train.yaml\ndata: {GOLD_EXPORT}\noutput_dir: {tmp_path / 'out'}\n"
                   "variants: [{name: rules, system: rules}, {name: no-hints, overrides: [rule_hints=false]}]\n",
                   encoding="utf-8")
    assert main(["eval", "cv", "--config", str(cfg)]) != 0
    err = capsys.readouterr().err
    assert "variant 'no-hints'" in err and "rule_labels=[]" in err
    assert not (tmp_path / "out" / "rules").exists()


@pytest.mark.parametrize("name", ["cv.yaml", "cv-encoder.yaml"])
def test_the_shipped_cv_tables_are_valid_against_the_present_train_config(name, tmp_path):
    # configs/train.yaml moves on under the tables' old variants: each must still be a config
    # train accepts, or a rerun from scratch dies after hours of the variants before it
    from minzheng_ie.core.config import load_config
    from minzheng_ie.core.schema import load_schema
    from minzheng_ie.eval.cv import CVConfig, check_variants

    cfg = load_config(CVConfig, f"configs/{name}", [])
    check_variants(cfg, [["a"]], tmp_path, load_schema())  # tmp_path: no fold is done, so every variant is checked


def test_a_fold_whose_training_fails_leaves_no_copy_of_the_gold(tmp_path, capsys, monkeypatch):
    import minzheng_ie.training.train as train_module

    def refuse(cfg):
        raise InputError("train: a document of the fold cannot be encoded (stand-in failure)")

    monkeypatch.setattr(train_module, "train", refuse)
    cfg = tmp_path / "cv.yaml"
    cfg.write_text(f"train_config: configs/train.yaml\ndata: {GOLD_EXPORT}\noutput_dir: {tmp_path / 'out'}\n"
                   "variants: [{name: hints, overrides: []}]\n", encoding="utf-8")
    assert main(["eval", "cv", "--config", str(cfg)]) != 0
    assert "stand-in failure" in capsys.readouterr().err
    assert (tmp_path / "out" / "hints" / "fold-0").is_dir()  # the fold was reached
    assert list((tmp_path / "out").rglob("train_dev.jsonl")) == []
