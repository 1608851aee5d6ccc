"""The gold corpus is clean, and its data card's numbers are the ones the command prints."""
import re
import subprocess
import sys

from minzheng_ie.annotation.validate import validate_export

from conftest import GOLD_EXPORT, SEEDS


def test_gold_export_validates_clean():
    report = validate_export(GOLD_EXPORT)
    assert report.issues == [] and report.unlabelled == []
    assert len(report.docs) == 5
    for doc in report.docs:
        assert doc.text == (SEEDS / f"{doc.id}.txt").read_text(encoding="utf-8")
        assert doc.meta.year and doc.meta.jurisdiction and doc.meta.extra.get("file") == f"{doc.id}.txt"


def test_data_card_counts_match_the_stats_command():
    card = (GOLD_EXPORT.parent / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- stats:begin -->\n(.*?)<!-- stats:end -->", card, re.S).group(1)
    out = subprocess.run([sys.executable, "-m", "minzheng_ie.core.cli", "annotate", "stats",
                          str(GOLD_EXPORT), "--markdown"], capture_output=True, text=True, check=True).stdout
    assert block.strip() == out.strip()
