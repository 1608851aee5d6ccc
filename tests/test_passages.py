"""Gold passages: cut at paragraph ends, scored, split by stratum, and stored stand-off."""
from __future__ import annotations

import gzip
import json

import pytest

from minzheng_ie.annotation import passages as P
from minzheng_ie.core.errors import InputError


def write_corpus(path, texts):
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for i, t in enumerate(texts):
            fh.write(json.dumps({"text": t, "path": "news", "line": str(i)}, ensure_ascii=False) + "\n")


DENSE = "全市支出城乡低保资金2551.35万元,保障低保对象5719户10833人。发放临时救助金300万元。\n"
PLAIN = "今年春天雨水充足,田里的麦子长得很好,农民们忙着除草施肥。\n"


def test_windows_are_whole_paragraphs_within_bounds():
    text = "".join(PLAIN if i % 3 else DENSE for i in range(60))
    cfg = P.PassageConfig(min_chars=200, max_chars=400, target_chars=250)
    found = list(P.windows(text, cfg))
    assert found
    for start, end in found:
        assert 200 <= end - start <= 400
        assert start == 0 or text[start - 1] == "\n"  # starts a paragraph
        assert text[end] == "\n"  # ends one


def test_long_paragraph_is_cut_at_sentence_ends():
    text = "低保标准提高到每人每月620元。" * 200  # one 3,000-character line
    spans = P.paragraphs(text, max_paragraph=100)
    assert all(text[e - 1] == "。" for _, e in spans[:-1]) and all(e - s <= 100 for s, e in spans)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)


def test_score_counts_figures_only_in_civil_affairs_sentences():
    hits, figures = P.score("支出低保资金47.22亿元,保障88.72万人。粮食产量6.9亿吨,新建学校12所。")
    assert hits == 1 and figures == 2  # 12所 sits in a sentence without a domain word


def test_split_is_stratified_and_keeps_train_only_documents_in_train():
    manifest = [{"id": f"n{i}", "file": "news", "script": "simplified", "kind": "dense"} for i in range(20)]
    manifest += [{"id": f"t{i}", "file": "news", "script": "traditional", "kind": "dense"} for i in range(5)]
    split = P.split_passages(manifest, seed=13, test=0.2, dev=0.1, train_only=["seed-a"])
    assert sorted(split["train"] + split["dev"] + split["test"]) == sorted([m["id"] for m in manifest] + ["seed-a"])
    assert "seed-a" in split["train"]
    assert sum(i.startswith("t") for i in split["test"]) == 1  # round(5 * 0.2)
    assert sum(i.startswith("n") for i in split["test"]) == 4
    assert split == P.split_passages(manifest, seed=13, test=0.2, dev=0.1, train_only=["seed-a"])


def test_selection_is_deterministic_and_texts_rebuild_exactly(tmp_path):
    write_corpus(tmp_path / "news.jsonl.gz", [DENSE * 8, PLAIN * 20, DENSE * 3 + PLAIN * 5, PLAIN * 6 + "低保" + PLAIN])
    cfg = P.PassageConfig(corpus_dir=str(tmp_path), min_chars=100, max_chars=1200, target_chars=150,
                          min_dense_figures=2, traditional_share=0.3,
                          sources=(P.SourceQuota(file="news.jsonl.gz", dense=2, sparse=1, bundle=True),))
    first, again = P.select(cfg), P.select(cfg)
    assert [p.to_json() for p in first] == [p.to_json() for p in again]
    assert {p.kind for p in first} == {"dense", "sparse"}
    assert any(p.opencc for p in first)  # converted until a third of the characters are traditional
    for p in first:
        text = P.passage_text(p.to_json(), tmp_path)
        assert len(text) == p.chars


def test_a_later_selection_skips_the_records_of_every_earlier_manifest(tmp_path):
    write_corpus(tmp_path / "news.jsonl.gz", [DENSE * 8, DENSE * 7, DENSE * 6, DENSE * 5])
    base = dict(corpus_dir=str(tmp_path), min_chars=100, max_chars=1200, target_chars=150, min_dense_figures=2,
                traditional_share=0)

    def pick(n, prefix, **kw):
        cfg = P.PassageConfig(**base, id_prefix=prefix, **kw,
                              sources=(P.SourceQuota(file="news.jsonl.gz", dense=n, per_record=1),))
        return [p.to_json() for p in P.select(cfg)]

    def records(manifest):
        return {s["record"] for p in manifest for s in p["segments"]}

    def write(name, manifest):
        (tmp_path / name).write_text("".join(json.dumps(p) + "\n" for p in manifest), encoding="utf-8")

    write("first", pick(1, ""))
    write("second", pick(1, "x", exclude_manifest=str(tmp_path / "first")))
    first, second = (records(P.read_manifest(tmp_path / n)) for n in ("first", "second"))
    assert len(first) == len(second) == 1 and not first & second
    third = pick(4, "y", exclude_manifest=str(tmp_path / "first"), exclude_manifests=(str(tmp_path / "second"),))
    assert records(third) == {0, 1, 2, 3} - first - second
    assert all(p["id"].startswith("news-yd") for p in third)


def make_passage(tmp_path, opencc=None):
    write_corpus(tmp_path / "news.jsonl.gz", [PLAIN, DENSE + PLAIN])
    text = DENSE + PLAIN
    if opencc:
        import opencc as cc

        text = cc.OpenCC(opencc).convert(text)
    return {"id": "news-d00", "file": "news.jsonl.gz", "segments": [{"record": 1, "start": 0, "end": len(DENSE + PLAIN),
            "key": "news:1"}], "opencc": opencc, "sha256": P._sha(text), "standoff": True}, text


@pytest.mark.parametrize("opencc", [None, "s2hk"])
def test_standoff_task_keeps_no_text_and_reads_back_identically(tmp_path, monkeypatch, opencc):
    from minzheng_ie.annotation.labelstudio import doc_to_task, read_export
    from minzheng_ie.core.record import Doc

    passage, text = make_passage(tmp_path, opencc)
    doc = Doc("news-d00", text)
    start = text.index("2551.35")
    doc.add(start, start + 9, "amount")
    task = dict(doc_to_task(doc, "gold", as_annotation=True), id=1)
    stored = P.to_standoff(task, passage)
    blob = json.dumps(stored, ensure_ascii=False)
    assert "text" not in stored["data"] and "2551" not in blob and text[:10] not in blob
    export = tmp_path / "gold.json"
    export.write_text(json.dumps([stored], ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("MZIE_CORPUS", str(tmp_path))
    docs, reading = read_export(export)
    assert docs[0].text == text and [e.text for e in docs[0].entities] == [text[start:start + 9]]
    assert not reading.issues


def test_standoff_without_corpus_or_with_a_changed_corpus_says_what_to_do(tmp_path, monkeypatch):
    passage, text = make_passage(tmp_path)
    task = {"id": 7, "data": {"text_ref": {k: passage[k] for k in P.REF_KEYS}}, "annotations": []}
    monkeypatch.setenv("MZIE_CORPUS", str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match="task 7.*MZIE_CORPUS"):
        P.resolve_standoff([json.loads(json.dumps(task))], "gold.json")
    write_corpus(tmp_path / "news.jsonl.gz", [PLAIN, DENSE + "改了"])
    monkeypatch.setenv("MZIE_CORPUS", str(tmp_path))
    with pytest.raises(InputError, match="sha256"):
        P.resolve_standoff([task], "gold.json")


def test_to_standoff_refuses_a_text_that_is_not_the_passage(tmp_path):
    passage, text = make_passage(tmp_path)
    with pytest.raises(InputError, match="differs from the manifest"):
        P.to_standoff({"data": {"text": text + "。"}, "annotations": []}, passage)


def test_materialize_writes_an_importable_export_with_the_text(tmp_path, monkeypatch):
    from minzheng_ie.annotation.labelstudio import doc_to_task
    from minzheng_ie.core.cli import main
    from minzheng_ie.core.record import Doc

    passage, text = make_passage(tmp_path)
    doc = Doc("news-d00", text)
    doc.add(0, 2, "region")
    stored = P.to_standoff(dict(doc_to_task(doc, "gold", as_annotation=True), id=1), passage)
    (tmp_path / "gold.json").write_text(json.dumps([stored], ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("MZIE_CORPUS", str(tmp_path))
    assert main(["annotate", "materialize", str(tmp_path / "gold.json"), "-o", str(tmp_path / "full.json")]) == 0
    full = json.loads((tmp_path / "full.json").read_text(encoding="utf-8"))
    assert full[0]["data"]["text"] == text and "text_ref" not in full[0]["data"]


def test_near_duplicates_move_to_the_most_held_out_part():
    story = "甘州区妇联在南街街道泰安社区举办了全区家家幸福一元捐公益项目第二阶段捐助金发放仪式,共救助45户困境家庭。" * 3
    texts = {"a": "来源甲。" + story, "b": story + "来源乙。", "c": "完全不同的一段关于低保标准提高到每人每月620元的报道。" * 4}
    groups = P.near_duplicate_groups(texts)
    assert groups == [{"a", "b"}]
    split = {"train": ["a", "c"], "dev": [], "test": ["b"]}
    assert P.keep_duplicates_together(split, groups) == [("a", "train", "test")]
    assert split == {"train": ["c"], "dev": [], "test": ["a", "b"]}
