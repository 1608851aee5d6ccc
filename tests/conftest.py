"""Shared fixtures: hand-made Chinese documents in inline markup, a tiny tokenizer, the gold corpus."""
from __future__ import annotations

from pathlib import Path

import pytest

from minzheng_ie.annotation import markup
from minzheng_ie.core.record import Doc

REPO = Path(__file__).resolve().parents[1]
GOLD_EXPORT = REPO / "annotation" / "data" / "gold" / "seeds.json"
SEEDS = REPO / "annotation" / "data" / "seeds"

# Each fixture exercises something the codec and the validators must survive.
FIXTURES = {
    "digits": "支出[[低保|programme|p]]资金[[47.22亿元|amount|a]],保障[[低保|programme|q]]对象[[88.72万人|count|c]]。\n"
              "#rel p has_amount a; q has_count c",
    "latin": "[[APP|programme|p]]“[[渝悦救助通|programme|r]]”覆盖[[1,234个|count|c]]村,含WiFi设备[[12台|count|d]]。\n"
             "#rel r has_count c",
    "spaces": "新建床位[[238.0 万个|count]] ,标准[[每人每月 620元|standard]]。",
    "traditional": "[[北京市|region|b]]銷售[[福利彩票|programme|p]][[28億元|amount|a]],服務[[7164個|count]]。\n"
                   "#rel p has_amount a; p in_region b",
    "adjacent": "[[大足|region]][[南岸|region]]、[[渝北|region]]通过验收,分别达到[[每人每月620元|standard]][[496元|standard]]。",
    "astral": "𠀀村[[𠀀𠀀镇|region|r]]发放[[临时救助|programme|p]]金[[3.5万元|amount|a]]。\n#rel p has_amount a; p in_region r",
    "multiline": "第一行[[重庆市|region]]\n\n第三行  [[低保|programme]]\t[[10余万元|amount]]",
}


@pytest.fixture
def fixture_docs() -> list[Doc]:
    return [markup.parse(m, name, f"fixture {name}") for name, m in FIXTURES.items()]


@pytest.fixture(scope="session")
def gold_docs() -> list[Doc]:
    from minzheng_ie.annotation.labelstudio import read_export

    docs, reading = read_export(GOLD_EXPORT)
    assert not [i for i in reading.issues if i.severity == "error"]
    return docs


def make_tokenizer(texts: list[str]):
    """A BERT WordPiece tokenizer over exactly the characters of `texts` (plus specials).

    transformers 5 ignores `vocab_file=` in the constructor; `vocab=` is the way in."""
    from transformers import BertTokenizerFast

    chars = sorted({ch for t in texts for ch in t if not ch.isspace()})
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars)}
    return BertTokenizerFast(vocab=vocab, do_lower_case=False)
