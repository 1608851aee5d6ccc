"""The Label Studio loop without a server: settings, errors, selection, review, the ML backend."""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient
from label_studio_sdk.core.api_error import ApiError

from ls_fixtures import ann, task
from minzheng_ie.annotation import markup, studio
from minzheng_ie.annotation.rules import VERSION
from minzheng_ie.core.errors import InputError
from minzheng_ie.annotation.labelstudio import doc_to_result
from minzheng_ie.core.record import Doc
from minzheng_ie.core.schema import load_schema
from minzheng_ie.inference import backend

TOKEN = "s3cret-token-0123456789"


# -- settings -----------------------------------------------------------------------

def write_config(tmp_path, text):
    path = tmp_path / "ls.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_settings_precedence_cli_then_env_then_file(tmp_path):
    cfg = write_config(tmp_path, "url: http://file:1\napi_key: file-key\nproject: '7'\n")
    s = studio.load_settings(cfg, env={})
    assert (s.url, s.api_key, s.project) == ("http://file:1", "file-key", "7")
    env = {"LABEL_STUDIO_URL": "http://env:2/", "LABEL_STUDIO_API_KEY": TOKEN, "LABEL_STUDIO_PROJECT": "env title"}
    s = studio.load_settings(cfg, env=env)
    assert (s.url, s.api_key, s.project, s.project_title) == ("http://env:2", TOKEN, "env title", "env title")
    s = studio.load_settings(cfg, url="http://cli:3", project="9", env=env)
    assert (s.url, s.project, s.project_title) == ("http://cli:3", "9", studio.DEFAULT_TITLE)
    assert "url from command line" in s.source and "api_key from LABEL_STUDIO_API_KEY" in s.source


def test_settings_file_from_env_var_and_default_location(tmp_path):
    cfg = write_config(tmp_path, "url: http://a:1\napi_key: k\n")
    assert studio.load_settings(env={"MZIE_LS_CONFIG": cfg}).url == "http://a:1"
    default = tmp_path / "xdg" / "minzheng-ie" / "labelstudio.yaml"
    default.parent.mkdir(parents=True)
    default.write_text("url: http://b:2\napi_key: k\n", encoding="utf-8")
    assert studio.load_settings(env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")}).url == "http://b:2"


@pytest.mark.parametrize("kwargs, env, fragment", [
    ({}, {}, "no Label Studio URL"),
    ({}, {"LABEL_STUDIO_URL": "http://x:1"}, "no Label Studio API key"),
    ({"url": "localhost:8080"}, {"LABEL_STUDIO_API_KEY": "k"}, "must start with http"),
    ({"config": "/nonexistent/ls.yaml"}, {}, "no such Label Studio config file"),
])
def test_settings_errors_say_what_to_set(tmp_path, kwargs, env, fragment):
    env = {"XDG_CONFIG_HOME": str(tmp_path), **env}
    with pytest.raises(InputError, match=fragment):
        studio.load_settings(env=env, **kwargs)


def test_settings_file_with_unknown_key(tmp_path):
    cfg = write_config(tmp_path, "url: http://a:1\ntoken: k\n")
    with pytest.raises(InputError, match="unknown key.*token"):
        studio.load_settings(cfg, env={})


def test_api_key_hidden_from_repr():
    s = studio.Settings("http://x:1", TOKEN)
    assert TOKEN not in repr(s) and TOKEN not in str(s)


# -- errors never show the token ------------------------------------------------------

def raise_in(settings, exc):
    with studio.api_errors(settings, "doing it"):
        raise exc


@pytest.mark.parametrize("exc, fragment", [
    (ApiError(status_code=401, body={"detail": f"Invalid token {TOKEN}"}), "refused the API key"),
    (ApiError(status_code=500, body=f"oops, key was {TOKEN}"), "answered HTTP 500"),
    (ApiError(status_code=403, body={"detail": "URL resolves to a reserved network address (block: 127.0.0.0/8)"}),
     "ML_BLOCK_LOCAL_IP=false"),
    (httpx.ConnectError("refused"), "cannot connect to Label Studio at http://x:1"),
    (httpx.ReadTimeout("slow"), "did not answer in time"),
])
def test_api_errors_are_one_sentence_without_token(exc, fragment):
    with pytest.raises(InputError) as info:
        raise_in(studio.Settings("http://x:1", TOKEN), exc)
    msg = str(info.value)
    assert fragment in msg and TOKEN not in msg and "\n" not in msg
    assert info.value.__suppress_context__  # the CLI prints it without a chained traceback


def test_refused_connection_names_url_and_logs_no_token(caplog):
    from ls_server import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(InputError, match=f"cannot connect to Label Studio at {url}"):
            studio.connect(studio.Settings(url, TOKEN), timeout=5)
    assert TOKEN not in caplog.text


def test_cli_prints_one_line_for_a_refused_connection(monkeypatch, capsys, tmp_path):
    from ls_server import free_port
    from minzheng_ie.core.cli import main

    monkeypatch.setenv("LABEL_STUDIO_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", TOKEN)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert main(["-v", "ls", "init"]) == 2
    err = capsys.readouterr().err
    assert "mzie: error: cannot connect" in err and TOKEN not in err and "Traceback" not in err


# -- push: tasks and selection --------------------------------------------------------

def scored(doc_id, text, scores):
    doc = Doc(doc_id, text)
    for i, s in enumerate(scores):
        doc.add(i, i + 1, "region", score=s)
    return doc


def test_uncertainty_is_one_minus_mean_score():
    assert studio.uncertainty(scored("a", "abcd", [0.9, 0.7])) == pytest.approx(0.2)
    assert studio.uncertainty(Doc("empty", "没有实体")) == 1.0


def test_build_tasks_carry_uncertainty_and_scored_predictions():
    doc = scored("a", "重庆市民政局", [0.8])
    [t] = studio.build_tasks([doc], "rules-0.1")
    assert t["data"]["uncertainty"] == pytest.approx(0.2) and t["data"]["doc_id"] == "a"
    pred = t["predictions"][0]
    assert pred["model_version"] == "rules-0.1" and pred["score"] == 0.8 and pred["result"][0]["score"] == 0.8


def test_select_by_uncertainty_takes_least_confident():
    docs = [scored("sure", "ab", [0.95]), scored("unsure", "cd", [0.3]), scored("middle", "ef", [0.6])]
    assert [d.id for d in studio.select_docs(docs, 2, "uncertainty")] == ["unsure", "middle"]


def test_select_by_diversity_skips_near_duplicates():
    template = "全年支出城乡低保资金{}万元,保障低保对象{}户。"
    docs = [scored("t1", template.format(100, 20), [0.5]), scored("t2", template.format(101, 21), [0.55]),
            scored("t3", template.format(102, 22), [0.6]),
            scored("other", "新建养老服务设施床位三百张,覆盖乡镇敬老院。", [0.9])]
    assert [d.id for d in studio.select_docs(docs, 2, "uncertainty")] == ["t1", "t2"]
    assert [d.id for d in studio.select_docs(docs, 2, "diversity")] == ["t1", "other"]


def test_select_rejects_nonsense():
    with pytest.raises(InputError):
        studio.select_docs([scored("a", "ab", [0.5])], 0, "uncertainty")


# -- review -------------------------------------------------------------------------

HUMAN = ("[[重庆市|region|r]]支出[[城乡低保|programme|p]]资金[[47.22亿元|amount|a]],"
         "保障对象[[88.72万人|count|c]],标准[[每人每月620元|standard|s]]。\n"
         "#rel p in_region r; p has_amount a; p has_count c")
MODEL = ("[[重庆市|region|r]]支出城乡[[低保|programme|p]]资金[[47.22亿元|count|a]],"
         "保障对象88.72万人,标准[[每人每月620元|standard|s]]。\n"
         "#rel p in_region r; p has_standard s")


def test_compare_classifies_each_kind():
    human = markup.parse(HUMAN, "d", "test")
    model = markup.parse(MODEL, "d", "test")
    model.add(0, 1, "amount", score=0.4)  # inside 重庆市, which the model also has exactly: an extra
    got = studio.compare(human, model)
    kinds = [d.kind for d in got]
    assert kinds.count("type") == 1  # 47.22亿元 amount vs count
    assert kinds.count("boundary") == 1  # 城乡低保 vs 低保
    assert kinds.count("missed") == 1  # 88.72万人
    assert kinds.count("extra") == 1 and "0.40" in next(d.message for d in got if d.kind == "extra")
    rel = [d.message for d in got if d.kind == "relation"]
    assert any("annotator" in m and "has_amount" in m for m in rel)
    assert any("model" in m and "has_standard" in m for m in rel)
    # the model's in_region starts at 低保, not 城乡低保: a different relation on both sides
    assert any(m.startswith("model '低保' -in_region->") for m in rel)
    assert any(m.startswith("annotator '城乡低保' -in_region->") for m in rel)
    assert any("88.72万人" in d.message for d in got if d.kind == "missed")


def test_identical_docs_agree():
    human = markup.parse(HUMAN, "d", "test")
    assert studio.compare(human, markup.parse(HUMAN, "d", "test")) == []


def export_task(tid=5):
    schema = load_schema()
    human = markup.parse(HUMAN, "d", "test")
    model = markup.parse(MODEL, "d", "test")
    t = task(tid, human.text, ann(11, doc_to_result(human, schema, with_scores=False)), doc_id="doc-5")
    t["project"] = 3
    t["predictions"] = [
        {"id": 1, "model_version": "old", "created_at": "2026-01-01T00:00:00Z", "result": []},
        {"id": 2, "model_version": "rules-0.1", "created_at": "2026-02-01T00:00:00Z", "score": 0.8,
         "result": doc_to_result(model, schema)},
    ]
    return t


def test_review_tasks_uses_newest_prediction_and_lists_unpredicted():
    bare = task(6, "重庆市", ann(12, []))
    reviews, no_pred = studio.review_tasks([export_task(), bare])
    assert no_pred == ["6"]
    [r] = reviews
    assert (r.task, r.doc_id, r.model_version) == ("5", "doc-5", "rules-0.1")
    assert {d.kind for d in r.items} == set(studio.KINDS) - {"extra"}
    reviews, _ = studio.review_tasks([export_task()], model_version="old")
    assert {d.kind for d in reviews[0].items} == {"missed", "relation"}


def test_write_review_markdown_and_html_link_to_tasks(tmp_path):
    reviews, md, page = studio.write_review([export_task()], tmp_path / "review.md", "http://ls:8080")
    link = "http://ls:8080/projects/3/data?task=5"
    text = md.read_text(encoding="utf-8")
    assert f"[Task 5]({link})" in text and "**boundary**" in text and "doc-5" in text
    html_text = page.read_text(encoding="utf-8")
    assert f'href="{link}"' in html_text and "&#x27;城乡低保&#x27;" in html_text


def test_instructions_link_the_guideline():
    schema = load_schema()
    assert "annotation/GUIDELINES.md" in studio.instructions_html(schema, None)
    assert 'href="https://example.org/g.md"' in studio.instructions_html(schema, "https://example.org/g.md")


# -- the ML backend ------------------------------------------------------------------

TEXT = "信息来源:洪江市民政局\n全年支出城乡低保资金2551.35万元,保障低保对象5719户10833人。"


@pytest.fixture(scope="module")
def app_client():
    return TestClient(backend.create_app("rules"))


def test_health_and_setup(app_client):
    from minzheng_ie.core.schema import checked_labeling_config

    h = app_client.get("/health")
    assert h.status_code == 200 and h.json()["status"] == "UP"
    s = app_client.post("/setup", json={"project": "1.17", "schema": checked_labeling_config(load_schema()),
                                        "access_token": TOKEN, "hostname": "http://127.0.0.1:8080"})
    assert s.status_code == 200 and s.json() == {"model_version": VERSION}


def test_setup_refuses_a_foreign_labeling_config(app_client):
    s = app_client.post("/setup", json={"project": "1.1", "schema": "<View><Image name=\"img\" value=\"$x\"/></View>"})
    assert s.status_code == 400 and "mzie ls init" in s.json()["error"]


def test_predict_answers_one_scored_prediction_per_task(app_client):
    tasks = [{"id": 1, "data": {"text": TEXT}}, {"id": 2, "data": {"text": "重庆市"}}, {"id": 3, "data": {}}]
    r = app_client.post("/predict", json={"tasks": tasks, "project": "1.1", "params": {}})
    assert r.status_code == 200
    results = r.json()["results"]
    assert len(results) == 3
    first = results[0]
    assert first["model_version"] == VERSION and 0 < first["score"] <= 1
    spans = [x for x in first["result"] if x["type"] == "labels"]
    rels = [x for x in first["result"] if x["type"] == "relation"]
    assert spans and rels and all("score" in x for x in spans)
    assert all(TEXT[x["value"]["start"]:x["value"]["end"]] == x["value"]["text"] for x in spans)
    ids = {x["id"] for x in spans}
    assert all(x["from_id"] in ids and x["to_id"] in ids for x in rels)
    assert results[2] == {"result": [], "model_version": VERSION}


def test_predict_rejects_a_bad_body(app_client):
    assert app_client.post("/predict", json={"tasks": "no"}).status_code == 422


def test_webhook_is_acknowledged(app_client):
    r = app_client.post("/webhook", json={"action": "ANNOTATION_CREATED", "annotation": {}})
    assert r.status_code == 200 and r.json()["action"] == "ANNOTATION_CREATED"


def test_model_loads_once_and_concurrent_requests_agree(monkeypatch):
    from minzheng_ie.inference import tag

    real = tag.load_tagger
    loads = []
    monkeypatch.setattr(tag, "load_tagger", lambda model: loads.append(model) or real(model))
    client = TestClient(backend.create_app("rules"))
    body = {"tasks": [{"id": i, "data": {"text": TEXT}} for i in range(3)]}
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: client.post("/predict", json=body).json(), range(12)))
    assert loads == ["rules"]
    assert all(a == answers[0] for a in answers)
    assert len(answers[0]["results"]) == 3


def test_review_falls_back_to_the_prediction_an_annotation_started_from():
    t = export_task()
    started_from = t.pop("predictions")[1]
    t["predictions"] = [2]  # a plain JSON export: ids only
    t["annotations"][0]["prediction"] = started_from
    reviews, no_pred = studio.review_tasks([t])
    assert no_pred == [] and reviews[0].items


def test_push_and_serve_backend_default_to_the_shipped_model(monkeypatch):
    """Like `mzie tag`: no --model means models/minzheng-small, not the rules."""
    from minzheng_ie.annotation import studio_cli
    from minzheng_ie.core.cli import main
    from minzheng_ie.inference import tag

    asked = []

    def stop(model, runtime="torch"):
        asked.append(tag.resolve_model(model))
        raise InputError("stop here")

    monkeypatch.setattr(studio_cli, "_settings", lambda args: None)
    monkeypatch.setattr(studio, "connect", lambda settings: None)
    monkeypatch.setattr(studio, "require_project", lambda client, settings: None)
    monkeypatch.setattr(tag, "load_tagger", stop)
    monkeypatch.setattr(backend, "serve", lambda model, *a, **kw: stop(model))
    assert main(["ls", "push", "report.txt"]) == 2
    assert main(["serve-backend", "--port", "9999"]) == 2
    assert asked == [str(tag.DEFAULT_MODEL)] * 2
