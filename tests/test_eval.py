"""The evaluation harness against hand-computed cases, and its report files."""
import json
import os
import shutil
import subprocess

import pytest

from minzheng_ie.annotation import markup
from minzheng_ie.core.cli import main
from minzheng_ie.core.record import Doc, Relation, write_jsonl
from minzheng_ie.core.schema import load_schema
from minzheng_ie.eval.bootstrap import interval, paired_difference
from minzheng_ie.eval.compare import compare
from minzheng_ie.eval.crosscheck import seqeval_scores
from minzheng_ie.eval.errors import classify, confusion
from minzheng_ie.eval.evaluate import evaluate
from minzheng_ie.eval.spans import pair_docs, score

from conftest import GOLD_EXPORT

TEXT = "重庆市支出低保资金47.22亿元,保障88.72万人。"  # 27 characters
#  重庆市 0:3, 低保 5:7, 47.22亿元 9:16, 保障 17:19, 88.72万人 19:26


def doc(*spans, rels=(), doc_id="d"):
    d = Doc(doc_id, TEXT)
    for s, e, lab in spans:
        d.add(s, e, lab)
    d.relations = [Relation(d.entities[h].id, d.entities[t].id, lab) for h, t, lab in rels]
    return d


GOLD = doc((0, 3, "region"), (5, 7, "programme"), (9, 16, "amount"), (19, 26, "count"),
           rels=[(1, 2, "has_amount"), (1, 0, "in_region")])


def micro(m, part="entities"):
    s = m[part]["micro"]
    return s["tp"], s["fp"], s["fn"], s["precision"], s["recall"], s["f1"]


def test_perfect_and_empty_predictions():
    assert micro(score([GOLD], [GOLD])) == (4, 0, 0, 1.0, 1.0, 1.0)
    assert micro(score([GOLD], [doc()])) == (0, 0, 4, 0.0, 0.0, 0.0)
    assert micro(score([GOLD], [doc()]), "relations") == (0, 0, 2, 0.0, 0.0, 0.0)


def test_empty_gold_and_both_empty():
    assert micro(score([doc()], [GOLD])) == (0, 4, 0, 0.0, 0.0, 0.0)
    assert micro(score([doc()], [doc()])) == (0, 0, 0, 0.0, 0.0, 0.0)


def test_missing_prediction_counts_as_all_missed_and_is_listed():
    other = doc((0, 3, "region"), doc_id="e")
    m = score([GOLD, other], [GOLD])
    assert m["missing_predictions"] == ["e"] and micro(m)[:3] == (4, 0, 1)
    m = score([GOLD], [GOLD, other])
    assert m["unmatched_predictions"] == ["e"] and micro(m)[:3] == (4, 0, 0)


def test_duplicate_prediction_is_one_hit_and_one_false_positive():
    dup = doc((0, 3, "region"), (0, 3, "region"))
    tp, fp, fn, p, r, f1 = micro(score([doc((0, 3, "region"))], [dup]))
    assert (tp, fp, fn) == (1, 1, 0) and p == 0.5 and r == 1.0 and f1 == pytest.approx(0.6667, abs=1e-4)


def test_overlapping_predictions_and_views():
    gold = doc((9, 16, "amount"), (19, 26, "count"))
    # 47.22亿元 exactly; 亿元,保 overlapping it; 88.72万 too short; nothing else
    pred = doc((9, 16, "amount"), (14, 18, "amount"), (19, 24, "amount"))
    m = score([gold], [pred])
    assert micro(m)[:3] == (1, 2, 1)
    v = m["entities"]["views"]
    assert (v["exact"]["tp"], v["exact"]["fp"], v["exact"]["fn"]) == (1, 2, 1)
    # type: 88.72万 overlaps 88.72万人 but as amount ≠ count; 亿元,保 finds 47.22亿元 already taken
    assert (v["type"]["tp"], v["type"]["fp"], v["type"]["fn"]) == (1, 2, 1)
    # partial: label ignored, so 88.72万 now matches 88.72万人
    assert (v["partial"]["tp"], v["partial"]["fp"], v["partial"]["fn"]) == (2, 1, 0)


def test_per_label_counts_and_macro():
    pred = doc((0, 3, "region"), (5, 7, "programme"), (9, 15, "amount"))
    m = score([GOLD], [pred], ("amount", "count", "programme", "region", "standard"))
    per = m["entities"]["per_label"]
    assert (per["amount"]["tp"], per["amount"]["fp"], per["amount"]["fn"]) == (0, 1, 1)
    assert per["count"]["fn"] == 1 and per["region"]["f1"] == 1.0 and per["standard"]["support"] == 0
    assert m["entities"]["macro_f1"] == pytest.approx((0 + 0 + 1 + 1 + 0) / 5, abs=1e-4)


def test_relations_count_only_when_both_ends_match():
    pred = doc((0, 3, "region"), (5, 7, "programme"), (9, 15, "amount"),
               rels=[(1, 2, "has_amount"), (1, 0, "in_region")])
    m = score([GOLD], [pred])
    assert micro(m, "relations")[:3] == (1, 1, 1)  # in_region right; has_amount's tail span is wrong


def test_boundary_error_kinds():
    gold = [(0, 3, "region"), (5, 7, "programme"), (9, 16, "amount"), (19, 26, "count"), (26, 27, "region")]
    pred = [(0, 3, "programme"),        # same span, wrong type
            (4, 7, "programme"),        # too long
            (9, 14, "amount"),          # too short
            (18, 24, "count"),          # shifted
            (17, 18, "count")]          # spurious
    kinds = {(e.kind, e.gold, e.pred) for e in classify("d", gold, pred)}
    assert kinds == {("wrong_type", (0, 3, "region"), (0, 3, "programme")),
                     ("too_long", (5, 7, "programme"), (4, 7, "programme")),
                     ("too_short", (9, 16, "amount"), (9, 14, "amount")),
                     ("shifted", (19, 26, "count"), (18, 24, "count")),
                     ("missed", (26, 27, "region"), None),
                     ("spurious", None, (17, 18, "count"))}
    assert [e.kind for e in classify("d", [(0, 4, "amount")], [(1, 3, "count")])] == ["type_and_span"]
    assert classify("d", gold, gold) == []


def test_confusion_pairs_best_overlap():
    gold = doc((0, 3, "region"), (5, 7, "programme"), (9, 16, "amount"))
    pred = doc((0, 3, "programme"), (9, 16, "amount"), (19, 26, "count"))
    c = confusion([(gold, pred)])
    assert c == {("region", "programme"): 1, ("programme", "—"): 1, ("amount", "amount"): 1, ("—", "count"): 1}


def test_seqeval_agrees_on_the_gold_corpus(gold_docs):
    from minzheng_ie.annotation.rules import RuleTagger

    tagger = RuleTagger()
    pairs = [(g, tagger(Doc(g.id, g.text))) for g in gold_docs]
    s = seqeval_scores(pairs)
    ours = score([g for g, _ in pairs], [p for _, p in pairs])["entities"]["micro"]
    assert s["agrees"] and s["dropped_overlapping_predictions"] == 0
    assert s["micro"]["f1"] == pytest.approx(ours["f1"], abs=1e-4)


def test_seqeval_check_survives_overlaps_and_says_so():
    pred = doc((9, 16, "amount"), (9, 16, "amount"), (14, 18, "amount"))
    s = seqeval_scores([(GOLD, pred)])
    assert s["dropped_overlapping_predictions"] == 2 and s["agrees"]


def test_bootstrap_interval_and_paired_gate(gold_docs):
    schema = load_schema()
    good = evaluate(gold_docs, gold_docs, schema, samples=200)
    assert good["entities"]["ci95"]["micro_f1"] == [1.0, 1.0]
    halved = [Doc(g.id, g.text, entities=g.entities[::2]) for g in gold_docs]
    worse = evaluate(gold_docs, halved, schema, samples=200)
    lo, hi = worse["entities"]["ci95"]["micro_f1"]
    assert lo <= worse["entities"]["micro"]["f1"] <= hi < 1.0
    d = paired_difference(good, worse, "entities", samples=200)
    assert d["difference"] < 0 and d["interval"][1] < 0
    c = compare(good, worse, samples=200)
    assert c["worse_beyond_noise"] and not compare(good, good, samples=200)["worse_beyond_noise"]
    assert interval({}, "entities") == [0.0, 0.0]


def test_relations_given_gold_entities_use_the_linker():
    schema = load_schema()
    g = markup.parse("[[重庆市|region|r]]支出[[低保|programme|p]]资金[[47.22亿元|amount|a]]。\n#rel p has_amount a",
                     "g", "test")

    def linker(d: Doc) -> Doc:
        ids = {e.label: e.id for e in d.entities}
        return Doc(d.id, d.text, entities=d.entities, relations=[Relation(ids["programme"], ids["amount"], "has_amount")])

    m = evaluate([g], [Doc("g", g.text)], schema, linker=linker, samples=50)
    given = m["relations"]["given_gold_entities"]["micro"]
    assert (given["tp"], given["fp"], given["fn"]) == (1, 0, 0)
    assert m["relations"]["micro"]["fn"] == 1  # end to end, nothing was predicted


def chromium() -> str | None:
    return next((b for b in ("chromium-headless-shell", "chromium", "chromium-browser") if shutil.which(b)), None)


@pytest.fixture
def rules_report(tmp_path):
    out = tmp_path / "report"
    assert main(["eval", "--data", str(GOLD_EXPORT), "--model", "rules", "-o", str(out), "--samples", "200"]) == 0
    return out


def test_eval_command_writes_the_report(rules_report, tmp_path, capsys):
    m = json.loads((rules_report / "metrics.json").read_text(encoding="utf-8"))
    for key in ("entities", "relations", "errors", "confusion", "seqeval", "values", "threshold_curve",
                "per_document", "bootstrap", "command", "format"):
        assert key in m, key
    assert m["seqeval"]["agrees"]
    assert m["relations"]["given_gold_entities"]["micro"]["f1"] > m["relations"]["micro"]["f1"]
    for f in ("report.md", "errors.html", "f1_by_label.png", "confusion.png", "threshold.png", "predictions.jsonl"):
        assert (rules_report / f).stat().st_size > 0, f
    # the same predictions scored from file give the same numbers
    again = tmp_path / "again"
    assert main(["eval", "--gold", str(GOLD_EXPORT), "--predictions", str(rules_report / "predictions.jsonl"),
                 "-o", str(again), "--samples", "200"]) == 0
    m2 = json.loads((again / "metrics.json").read_text(encoding="utf-8"))
    assert m2["entities"]["micro"] == m["entities"]["micro"] and m2["relations"]["given_gold_entities"] is None
    # compare: identical → exit 0; a worse system → exit 1
    assert main(["eval", "compare", str(rules_report), str(again)]) == 0
    preds = [json.loads(line) for line in (rules_report / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    for p in preds:
        p["entities"], p["relations"] = p["entities"][::3], []
    (tmp_path / "bad.jsonl").write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in preds), "utf-8")
    assert main(["eval", "--gold", str(GOLD_EXPORT), "--predictions", str(tmp_path / "bad.jsonl"),
                 "-o", str(tmp_path / "bad"), "--samples", "200"]) == 0
    capsys.readouterr()
    assert main(["eval", "compare", str(rules_report), str(tmp_path / "bad" / "metrics.json")]) == 1
    assert "do not promote" in capsys.readouterr().out


def test_compare_refuses_reports_on_different_documents(rules_report, tmp_path):
    from minzheng_ie.core.errors import InputError
    from minzheng_ie.eval.compare import read_metrics

    m = read_metrics(rules_report)
    other = dict(m, per_document={k + "x": dict(v, content_hash=k) for k, v in m["per_document"].items()})
    with pytest.raises(InputError, match="different documents"):
        compare(m, other)


def test_errors_page_renders_highlights_in_chromium(tmp_path):
    """Open errors.html in headless Chromium: the DOM holds the highlighted spans, and the
    screenshot shows both highlight colours."""
    browser = chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing; .ci/run installs chromium-headless-shell from Debian")
        pytest.skip("no Chromium on this machine (apt-get install chromium-headless-shell)")
    gold = doc((9, 16, "amount"))
    pred = doc((9, 14, "amount"), (19, 26, "count"))
    write_jsonl([gold], tmp_path / "gold.jsonl")
    write_jsonl([pred], tmp_path / "pred.jsonl")
    out = tmp_path / "r"
    assert main(["eval", "--gold", str(tmp_path / "gold.jsonl"), "--predictions", str(tmp_path / "pred.jsonl"),
                 "-o", str(out), "--samples", "50"]) == 0
    page = (out / "errors.html").as_uri()
    flags = ["--no-sandbox", "--disable-gpu", "--headless"]
    dom = subprocess.run([browser, *flags, "--dump-dom", page], capture_output=True, text=True, timeout=120).stdout
    assert '<mark class="both">47.22</mark><mark class="gold">亿元</mark>' in dom  # too short: 亿元 only in gold
    assert '<mark class="pred">88.72万人</mark>' in dom  # spurious
    assert 'id="too_short"' in dom and 'id="spurious"' in dom
    shot = tmp_path / "shot.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=1000,700", page],
                   capture_output=True, timeout=120, check=True)
    from PIL import Image

    colours = {px for px in Image.open(shot).convert("RGB").get_flattened_data()}
    assert (0xb7, 0xe4, 0xc7) in colours and (0xff, 0xc9, 0xa9) in colours  # gold and predicted highlights


def ls_export(texts_and_markup: list[str]) -> list[dict]:
    """An export as Label Studio writes it: tasks numbered 1, 2, … and no data.doc_id."""
    tasks = []
    for n, m in enumerate(texts_and_markup, 1):
        d = markup.parse(m, "x", "fixture")
        result = [{"id": e.id, "from_name": "label", "to_name": "text", "type": "labels",
                   "value": {"start": e.start, "end": e.end, "text": e.text, "labels": [e.label]}}
                  for e in d.entities]
        tasks.append({"id": n, "data": {"text": d.text}, "annotations": [{"id": 10 + n, "result": result}]})
    return tasks


REPORTS = {"hongjiang": "[[洪江市|region]]全年支出[[城乡低保|programme]]资金[[2551.35万元|amount]]。",
           "chongqing": "[[重庆市|region]]保障[[低保|programme]]对象[[88.72万人|count]]。"}


def test_eval_matches_an_export_with_numeric_ids_to_tagged_files_by_content(tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, m in REPORTS.items():
        (inputs / f"{name}.txt").write_text(markup.parse(m, name, "fixture").text, encoding="utf-8")
    export = tmp_path / "export.json"
    export.write_text(json.dumps(ls_export(list(REPORTS.values())), ensure_ascii=False), encoding="utf-8")
    assert main(["-q", "tag", str(inputs), "-o", str(tmp_path / "pred.jsonl"), "--model", "rules"]) == 0
    assert main(["eval", "--gold", str(export), "--predictions", str(tmp_path / "pred.jsonl"),
                 "-o", str(tmp_path / "r"), "--samples", "50"]) == 0
    m = json.loads((tmp_path / "r" / "metrics.json").read_text(encoding="utf-8"))
    assert m["matching"] == {"by_id": 0, "by_content": 2, "unmatched_gold": [], "unmatched_predictions": []}
    assert m["entities"]["micro"]["tp"] > 0 and "by text (content hash)" in capsys.readouterr().out


def test_eval_exits_non_zero_when_no_document_matches(tmp_path, capsys):
    export = tmp_path / "export.json"
    export.write_text(json.dumps(ls_export(list(REPORTS.values())), ensure_ascii=False), encoding="utf-8")
    write_jsonl([Doc("other", "民政局召开会议。")], tmp_path / "pred.jsonl")
    assert main(["eval", "--gold", str(export), "--predictions", str(tmp_path / "pred.jsonl"),
                 "-o", str(tmp_path / "r"), "--samples", "50"]) == 2
    err = capsys.readouterr().err
    assert "no prediction matches a gold document" in err and "doc_id" in err


def test_one_gold_document_without_prediction_is_listed_when_others_match_by_text():
    gold = [doc((0, 3, "region"), doc_id="1"), Doc("2", "民政局召开会议。")]
    pairing = pair_docs(gold, [doc((0, 3, "region"), doc_id="d")])
    assert (pairing.by_id, pairing.by_content, pairing.missing) == (0, 1, ["2"])


def test_compare_pairs_reports_by_text_when_ids_differ(rules_report):
    from minzheng_ie.eval.compare import read_metrics

    m = read_metrics(rules_report)
    renumbered = dict(m, per_document={str(n): v for n, v in enumerate(m["per_document"].values(), 1)})
    assert compare(m, renumbered, samples=50)["documents"] == len(m["per_document"])
