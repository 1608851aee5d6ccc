"""The Label Studio loop against a real Label Studio server (installed into its own venv).

Slow: the first run installs Label Studio (about a minute from a nearby index); each run
starts the server once for the module (about 30 s of migrations on a fresh data dir).
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from ls_server import LabelStudioServer, ensure_label_studio, free_port, stop, wait_http
from minzheng_ie.annotation.rules import VERSION
from minzheng_ie.annotation.labelstudio import doc_to_result
from minzheng_ie.core.record import read_jsonl
from minzheng_ie.core.schema import load_schema

pytestmark = pytest.mark.slow

MZIE = Path(sys.executable).with_name("mzie")
CLI_TIMEOUT = 180


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("label-studio")
    exe = ensure_label_studio(log_file=root / "install.log")
    ls = LabelStudioServer(exe, root / "data", token=secrets.token_hex(20))
    ls.start()
    try:
        yield ls
    finally:
        ls.stop()


def cli_env(server: LabelStudioServer, home: Path, project: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "MZIE_"))}
    env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "LABEL_STUDIO_URL": server.url,
                "LABEL_STUDIO_API_KEY": server.token, "LABEL_STUDIO_PROJECT": project})
    env.update(extra)
    return env


def mzie(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(MZIE), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=CLI_TIMEOUT)


def client_for(server: LabelStudioServer):
    from label_studio_sdk import LabelStudio

    return LabelStudio(base_url=server.url, api_key=server.token, timeout=60)


def project_id(client, title: str) -> int:
    return next(p.id for p in client.projects.list() if p.title == title)


def test_round_trip_init_push_annotate_pull_convert(server, gold_docs, tmp_path):
    title = "round trip"
    env = cli_env(server, tmp_path, title)
    gold = {d.id: d for d in gold_docs if d.id.startswith(("001_", "004_"))}  # the two shortest reports
    inputs = tmp_path / "reports"
    inputs.mkdir()
    for doc in gold.values():
        (inputs / f"{doc.id}.txt").write_text(doc.text, encoding="utf-8")

    r = mzie("-v", "ls", "init", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert server.token not in r.stdout + r.stderr  # not even in debug logging
    r = mzie("ls", "push", str(inputs), env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "pushed 2 task(s)" in r.stdout

    # A person's work, through the API: the gold annotation of each pushed document.
    client = client_for(server)
    pid = project_id(client, title)
    schema = load_schema()
    tasks = list(client.tasks.list(project=pid))
    assert sorted(t.data["doc_id"] for t in tasks) == sorted(gold)
    for t in tasks:
        client.annotations.create(id=t.id, result=doc_to_result(gold[t.data["doc_id"]], schema, with_scores=False),
                                  lead_time=12.5)

    r = mzie("ls", "pull", "-o", "export.json", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    exported = json.loads((tmp_path / "export.json").read_text(encoding="utf-8"))
    assert len(exported) == 2
    for task in exported:
        pred = task["predictions"][0]
        assert isinstance(pred, dict), "the snapshot export must carry full prediction objects"
        # `ls push` pre-annotates with the shipped default model, models/minzheng-small
        assert pred["model_version"].startswith("minzheng-small@") and pred["score"] is not None
        assert any(item.get("score") is not None for item in pred["result"])
        assert 0 <= task["data"]["uncertainty"] <= 1

    r = mzie("annotate", "convert", "export.json", "-o", "records", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    back = {d.id: d for d in read_jsonl(tmp_path / "records" / "all.jsonl")}
    assert set(back) == set(gold)
    for doc_id, want in gold.items():
        got, want = back[doc_id].sorted(), want.sorted()
        assert got.text == want.text
        assert [e.span for e in got.entities] == [e.span for e in want.entities]
        assert got.entities and got.relations
        ge, we = got.entity_by_id(), want.entity_by_id()
        assert sorted((ge[x.head].span, ge[x.tail].span, x.label) for x in got.relations) == \
            sorted((we[x.head].span, we[x.tail].span, x.label) for x in want.relations)

    r = mzie("ls", "review", "-o", "review.md", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "review.md").read_text(encoding="utf-8")
    assert f"{server.url}/projects/{pid}/data?task=" in md
    assert "**missed**" in md and "**extra**" in md  # the pre-annotations are not the gold
    assert (tmp_path / "review.html").read_text(encoding="utf-8").startswith("<!doctype html>")


def test_ml_backend_gives_live_predictions_through_label_studio(server, tmp_path):
    title = "live backend"
    env = cli_env(server, tmp_path, title)
    port = free_port()
    backend_url = f"http://127.0.0.1:{port}"
    log_file = tmp_path / "backend.log"
    with open(log_file, "wb") as log:
        backend = subprocess.Popen([str(MZIE), "serve-backend", "--model", "rules", "--port", str(port)],
                                   env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    try:
        wait_http(f"{backend_url}/health", 60, backend, log_file)
        r = mzie("ls", "init", "--backend", backend_url, env=env, cwd=tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr

        client = client_for(server)
        pid = project_id(client, title)
        backends = list(client.ml.list(project=pid))
        assert [b.url for b in backends] == [backend_url]
        assert backends[0].state == "CO"  # Label Studio checked /health and /setup itself

        text = "信息来源:洪江市民政局\n全年支出城乡低保资金2551.35万元,保障低保对象5719户10833人。"
        made = client.projects.import_tasks(id=pid, request=[{"data": {"text": text, "doc_id": "live"}}],
                                            return_task_ids=True)
        task_id = made.task_ids[0]
        client.tasks.get(id=task_id)  # what an annotator opening the task makes Label Studio do
        preds = list(client.predictions.list(task=task_id))
        assert len(preds) == 1
        pred = preds[0]
        assert pred.model_version == VERSION and pred.score is not None
        spans = [x for x in pred.result if x["type"] == "labels"]
        rels = [x for x in pred.result if x["type"] == "relation"]
        assert spans and rels
        assert all(text[x["value"]["start"]:x["value"]["end"]] == x["value"]["text"] for x in spans)
        assert all(x.get("score") is not None for x in spans)
        assert {"洪江市", "城乡低保", "2551.35万元"} <= {x["value"]["text"] for x in spans}
    finally:
        stop(backend)


def test_wrong_token_is_one_clear_sentence(server, tmp_path):
    wrong = "not-the-token-" + secrets.token_hex(8)
    env = cli_env(server, tmp_path, "errors", LABEL_STUDIO_API_KEY=wrong)
    r = mzie("ls", "init", env=env, cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "refused the API key" in lines[0] and server.url in lines[0]
    assert wrong not in r.stdout + r.stderr


def test_server_down_is_one_clear_sentence(server, tmp_path):
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = cli_env(server, tmp_path, "errors", LABEL_STUDIO_URL=down)
    for args in (["ls", "init"], ["ls", "pull", "-o", "x.json"]):
        r = mzie(*args, env=env, cwd=tmp_path)
        assert r.returncode == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in r.stderr
        assert "cannot connect to Label Studio at " + down in lines[0]
        assert server.token not in r.stderr
