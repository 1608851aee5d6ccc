"""The gold corpus is clean, its split is sound, and its data card's numbers are the ones the command prints."""
import json
import re
import subprocess
import sys

from minzheng_ie.annotation.validate import validate_export

from conftest import GOLD_EXPORT, SEEDS

GOLD = GOLD_EXPORT.parent
SPLIT = GOLD / "split.json"


def test_seed_export_validates_clean():
    report = validate_export(GOLD_EXPORT)
    assert report.issues == [] and report.unlabelled == []
    assert len(report.docs) == 5
    for doc in report.docs:
        assert doc.text == (SEEDS / f"{doc.id}.txt").read_text(encoding="utf-8")
        assert doc.meta.year and doc.meta.jurisdiction and doc.meta.extra.get("file") == f"{doc.id}.txt"


def test_corpus_export_validates_clean_and_news_is_stored_stand_off():
    """Reading rebuilds every stand-off text from ../shared/corpus and checks its sha256."""
    report = validate_export(GOLD / "corpus.json")
    assert [i for i in report.issues if i.severity == "error"] == [] and report.unlabelled == []
    raw = json.loads((GOLD / "corpus.json").read_text(encoding="utf-8"))
    for task in raw:
        if task["data"]["doc_id"].startswith("crud_news"):
            assert "text" not in task["data"] and "text_ref" in task["data"]


def test_split_parts_are_disjoint_cover_the_gold_and_hold_a_fifth_for_test():
    split = json.loads(SPLIT.read_text(encoding="utf-8"))
    parts = [set(split[k]) for k in ("train", "dev", "test")]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    manifest = [json.loads(x) for f in ("passages.jsonl", "passages-topup.jsonl", "passages-batch3.jsonl")
                for x in (GOLD / f).read_text(encoding="utf-8").splitlines()]
    assert {p["id"] for p in manifest} | {d.stem for d in SEEDS.glob("*.txt")} == set().union(*parts)
    assert {d.stem for d in SEEDS.glob("*.txt")} <= parts[0]
    chars = split["characters"]
    assert chars["test"] >= 0.2 * sum(chars.values())


def test_data_card_counts_match_the_stats_command():
    card = (GOLD / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- stats:begin -->\n(.*?)<!-- stats:end -->", card, re.S).group(1)
    out = subprocess.run([sys.executable, "-m", "minzheng_ie.core.cli", "-q", "annotate", "stats",
                          f"{SPLIT}:all", "--markdown"], capture_output=True, text=True, check=True).stdout
    assert block.strip() == out.strip()
