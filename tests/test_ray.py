"""`--engine ray` on a local Ray instance of 2 CPUs: the same records as the local engine in every
format, resuming, a worker killed mid-piece, and data-parallel training. `make test-ray` runs them
(they need the ray extra; the default run leaves them out)."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("ray")

from minzheng_ie.core.cli import main  # noqa: E402
from minzheng_ie.core.record import Doc, read_jsonl, write_jsonl  # noqa: E402
from minzheng_ie.inference import ray_engine  # noqa: E402
from minzheng_ie.inference.ray_engine import RayEngine  # noqa: E402
from minzheng_ie.inference.tag import load_tagger, run_batch  # noqa: E402

pytestmark = pytest.mark.ray

ALL_FORMATS = "jsonl,csv,parquet,label-studio,markup"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A 2-layer scratch model trained for two epochs on the hand-made fixtures (as in test_training)."""
    from conftest import FIXTURES
    from minzheng_ie.annotation import markup
    from minzheng_ie.training.train import TrainConfig, train

    tmp = tmp_path_factory.mktemp("ray-model")
    docs = [markup.parse(m, name) for name, m in FIXTURES.items()]
    write_jsonl(docs, tmp / "data.jsonl")
    train(TrainConfig(data=str(tmp / "data.jsonl"), dev=str(tmp / "data.jsonl"), output_dir=str(tmp / "model"),
                      base_model="scratch:tiny", epochs=2, batch_size=4, learning_rate=3e-3, max_length=32, stride=8))
    return tmp / "model"


def report(i: int) -> str:
    return f"第{i}号报告：重庆市城市低保标准提高到每人每月{600 + i}元，支出低保资金{i}.5亿元，保障{i}万人。"


@pytest.fixture
def mixed_inputs(tmp_path):
    """Good reports and every kind of bad one: binary, empty, undecodable, damaged UTF-8 (tagged with
    a warning), a JSONL file with good and broken lines, and a name used twice."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(6):
        (folder / f"r{i:02d}.txt").write_text(report(i), encoding="utf-8")
    (folder / "r00.md").write_text("同名的另一份报告：发放临时救助金3.5万元。", encoding="utf-8")  # id r00~2
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "undecodable.txt").write_bytes(b"\x80\x80\x80\x80\x80")
    (folder / "damaged.txt").write_bytes(report(7).encode("utf-8") * 40 + b"\xff")
    lines = [json.dumps({"id": "j1", "text": report(8)}, ensure_ascii=False), "{broken",
             json.dumps({"text": report(9)}, ensure_ascii=False), json.dumps({"title": "no text"})]
    (folder / "batch.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def tree(folder) -> dict[str, object]:
    """Every output file: text files as text, Parquet tables as rows."""
    import pyarrow.parquet as pq

    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            name = p.relative_to(folder).as_posix()
            out[name] = pq.read_table(p).to_pylist() if p.suffix == ".parquet" else p.read_text(encoding="utf-8")
    return out


def test_ray_writes_what_local_writes_in_every_format(tiny_model, mixed_inputs, tmp_path, monkeypatch):
    monkeypatch.setattr(ray_engine, "WORK_BYTES", 300)  # pieces of a few documents, so both workers share the batch
    common = ["-q", "tag", str(mixed_inputs), "--format", ALL_FORMATS, "--model", str(tiny_model)]
    assert main([*common, "-o", str(tmp_path / "local")]) == 1
    assert main([*common, "-o", str(tmp_path / "ray"), "--engine", "ray", "--workers", "2"]) == 1
    local, ray = tree(tmp_path / "local"), tree(tmp_path / "ray")
    assert sorted(local) == sorted(ray) and "errors.jsonl" in local and "parquet/facts.parquet" in local
    for name in local:
        assert ray[name] == local[name], name
    records = [d.id for d in read_jsonl(tmp_path / "ray" / "records.jsonl")]
    assert records[:3] == ["j1", "batch:3", "damaged"] and "r00~2" in records and len(records) == 10
    errors = [json.loads(line) for line in local["errors.jsonl"].splitlines()]
    assert sorted((e["source"].rsplit("/", 1)[-1], e["severity"]) for e in errors) == [
        ("batch.jsonl:2", "error"), ("batch.jsonl:4", "error"), ("binary.txt", "error"), ("damaged.txt", "warning"),
        ("empty.txt", "error"), ("undecodable.txt", "error")]


class StopAfter:
    """A progress bar that is interrupted (Ctrl-C) after `n` tagged documents."""

    def __init__(self, n: int):
        self.n = n

    def __call__(self, results, total=None):
        for i, r in enumerate(results):
            if i == self.n:
                raise KeyboardInterrupt
            yield r

    def skip(self):
        pass


def test_an_interrupted_ray_run_resumes_without_duplicates_or_retagging(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setattr(ray_engine, "WORK_BYTES", 100)
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(8):
        (inputs / f"r{i:02d}.txt").write_text(report(i), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_batch([str(inputs)], out, progress=StopAfter(3), engine=RayEngine(str(tiny_model), workers=2))
    partial = [d.id for d in read_jsonl(tmp_path / "out.jsonl.partial.jsonl")]
    assert partial == ["r00", "r01", "r02"] and not out.exists()

    (inputs / "r01.txt").write_text(report(1) + "又支出临时救助资金3万元。", encoding="utf-8")  # changed: tagged again
    res = run_batch([str(inputs)], out, engine=RayEngine(str(tiny_model), workers=2))
    assert (res.tagged, res.skipped, res.failed) == (6, 2, [])
    local = tmp_path / "local.jsonl"
    run_batch([str(inputs)], local, load_tagger(str(tiny_model)))
    assert out.read_text(encoding="utf-8") == local.read_text(encoding="utf-8")
    assert [d.id for d in read_jsonl(out)] == [f"r{i:02d}" for i in range(8)]


def test_a_worker_killed_mid_piece_is_retried_without_losses_or_duplicates(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setattr(ray_engine, "WORK_BYTES", 100)
    marker = tmp_path / "worker-exited"
    monkeypatch.setenv(ray_engine.EXIT_ONCE_ENV, str(marker))  # the first worker to create it exits
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(10):
        (inputs / f"r{i:02d}.txt").write_text(report(i), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    res = run_batch([str(inputs)], out, engine=RayEngine(str(tiny_model), workers=2))
    assert marker.exists()  # a worker did die in the middle of a piece
    assert (res.tagged, res.failed) == (10, [])
    monkeypatch.delenv(ray_engine.EXIT_ONCE_ENV)
    local = tmp_path / "local.jsonl"
    run_batch([str(inputs)], local, load_tagger(str(tiny_model)))
    assert out.read_text(encoding="utf-8") == local.read_text(encoding="utf-8")


def test_two_ray_train_workers_save_a_model_that_loads_and_tags(tmp_path):
    from conftest import FIXTURES
    from minzheng_ie.annotation import markup
    from minzheng_ie.inference.model_tagger import ModelTagger

    docs = [markup.parse(m, name) for name, m in FIXTURES.items()]
    write_jsonl(docs, tmp_path / "data.jsonl")
    config = tmp_path / "train.yaml"
    config.write_text(f"data: {tmp_path / 'data.jsonl'}\ndev: {tmp_path / 'data.jsonl'}\n"
                      f"output_dir: {tmp_path / 'model'}\nbase_model: scratch:tiny\nepochs: 2\nbatch_size: 4\n"
                      f"learning_rate: 0.003\nmax_length: 32\nstride: 8\n", encoding="utf-8")
    assert main(["-q", "train", "--config", str(config), "--engine", "ray", "--workers", "2"]) == 0
    model = tmp_path / "model"
    info = json.loads((model / "minzheng.json").read_text(encoding="utf-8"))
    assert info["distributed"] == {"engine": "ray", "workers": 2, "per_worker_batch_size": 2}
    assert len(info["history"]) == 2 and info["train_config"]["batch_size"] == 4
    for name in ("config.json", "model.safetensors", "relation_head.safetensors", "schema.yaml", "training_curve.png"):
        assert (model / name).exists(), name
    assert not list(model.rglob("*.bin")) and not list(model.rglob("*.pt")) and not (model / "checkpoints").exists()
    tagged = ModelTagger(model)(Doc("x", docs[0].text))
    assert all(tagged.text[e.start:e.end] == e.text for e in tagged.entities)
