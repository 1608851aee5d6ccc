"""What the programme rules learn from gold (annotation/rules/learn.py), how the rule tagger
applies it, and the jackknifed training hints that keep a model from trusting it blindly."""
import pytest
import yaml

from minzheng_ie.annotation.rules import RuleTagger
from minzheng_ie.annotation.rules.learn import LearnSettings, learn_rules, learnt_rules
from minzheng_ie.annotation.rules.programmes import apply_learned, hand_rules
from minzheng_ie.annotation.rules.script import traditional_copy
from minzheng_ie.core.cli import main
from minzheng_ie.core.errors import InputError
from minzheng_ie.core.record import Doc, write_jsonl
from minzheng_ie.training.hints import rule_hinter


def doc(doc_id, text, *names):
    """A gold doc tagging every occurrence of each of `names` as a programme."""
    d = Doc(doc_id, text)
    for name in names:
        start = text.find(name)
        while start != -1:
            d.add(start, start + len(name), "programme")
            start = text.find(name, start + len(name))
    return d


def programmes(tagger, text):
    return [text[e.start:e.end] for e in tagger.entities(Doc("t", text)).entities if e.label == "programme"]


# 暖心包 is tagged at both of its occurrences, 护苗计划 at its only one, 温暖 at 2 of its 8;
# the rules tag 乡村振兴 5 times and 5 names ending in 行动, and the gold none of them
GOLD = [
    doc("a", "发放暖心包1200份，实施护苗计划。温暖温暖温暖温暖", "暖心包", "护苗计划"),
    doc("b", "今年再发暖心包。温暖人心，温暖温暖温暖", "暖心包"),
    doc("c", "全力推进乡村振兴。乡村振兴取得成效。助力乡村振兴，服务乡村振兴，建设乡村振兴示范村。"),
    doc("d", "开展冬季行动。这场行动覆盖全市。开展联合行动，开展爱心行动，各方协同行动。"),
]
GOLD[0].add(18, 20, "programme")  # one 温暖 in each of a and b
GOLD[1].add(8, 10, "programme")


def test_learns_consistently_tagged_names_only():
    learnt = learn_rules(GOLD)
    names = {x["name"]: x for x in learnt["names"]}
    assert names["暖心包"] == {"name": "暖心包", "tagged": 2, "occurrences": 2}
    assert "护苗计划" not in names  # tagged once: below min_tagged
    assert "温暖" not in names  # tagged at 2 of 8 occurrences: below min_precision


def test_learnt_names_may_hold_digits_and_latin_among_chinese():
    gold = [doc("a", "今年“99公益日”期间，腾讯99公益日筹款3亿元；12345热线；H5页面", "99公益日", "12345热线", "H5")]
    gold.append(doc("b", "“99公益日”启动。12345热线接听。H5", "99公益日", "12345热线", "H5"))
    names = {x["name"] for x in learn_rules(gold)["names"]}
    assert {"99公益日", "12345热线"} <= names and "H5" not in names  # a name needs two Chinese characters
    tagger = RuleTagger(programmes=apply_learned(hand_rules(), learn_rules(gold), "learnt"))
    assert programmes(tagger, "参与99公益日活动") == ["99公益日"]


def test_weak_lexicon_names_become_figure_owners_and_weak_suffixes_are_dropped():
    learnt = learn_rules(GOLD)
    assert learnt["figure_owner_only"] == [{"name": "乡村振兴", "hits": 5, "correct": 0}]
    assert [x["suffix"] for x in learnt["dropped_suffixes"]] == ["行动"]
    rules = apply_learned(hand_rules(), learnt, "test")
    tagger = RuleTagger(programmes=rules)
    assert programmes(tagger, "全力推进乡村振兴。") == []
    assert programmes(tagger, "下达乡村振兴资金2.3亿元") == ["乡村振兴"]  # the figure-owner rule
    assert programmes(tagger, "开展联合行动。") == []
    assert programmes(RuleTagger(programmes=hand_rules()), "开展联合行动。") == ["联合行动"]
    assert programmes(tagger, "再发暖心包。") == ["暖心包"]


def test_a_follower_that_alone_makes_wrong_quoted_names_is_learnt_weak():
    # five quoted brands made programmes by 品牌 alone, none in the gold; one quoted name with a
    # lexicon name inside, followed by 品牌 too, that the gold tags
    brands = doc("e", "打造“快乐吧”品牌。“幸福小屋”品牌升级。“金色年华”品牌发布。“乐享家”品牌亮相。“好邻居”品牌推广。")
    inside = doc("f", "做强“阳光低保”品牌。", "阳光低保")
    learnt = learn_rules([brands, inside])
    assert learnt["weak_followers"] == [{"follower": "品牌", "hits": 5, "correct": 0}]
    tagger = RuleTagger(programmes=apply_learned(hand_rules(), learnt, "test"))
    assert programmes(tagger, "打造“快乐吧”品牌。") == []
    assert programmes(RuleTagger(programmes=hand_rules()), "打造“快乐吧”品牌。") == ["快乐吧"]
    assert programmes(tagger, "做强“阳光低保”品牌。") == ["阳光低保"]  # a lexicon name inside still counts
    assert programmes(tagger, "实施“护苗计划”。") == ["护苗计划"]  # a scheme suffix inside still counts


def test_settings_change_what_is_learnt():
    learnt = learn_rules(GOLD, LearnSettings(min_precision=0.2, min_tagged=1, min_hits=50))
    assert {"暖心包", "护苗计划", "温暖"} <= {x["name"] for x in learnt["names"]}
    assert learnt["figure_owner_only"] == [] and learnt["dropped_suffixes"] == []


def test_organisation_and_facility_names_are_not_programmes():
    tagger = RuleTagger(programmes=hand_rules())
    assert programmes(tagger, "市医保局召开会议，医保基金支出3亿元") == ["医保"]
    assert programmes(tagger, "省福彩中心发布公告，销售福彩12亿元") == ["福彩"]
    assert programmes(tagger, "新建养老助餐点40个，养老助餐服务3万人次") == ["养老助餐"]
    assert programmes(tagger, "全市福彩投注站300个，福利彩票发行中心，失业保险经办机构") == []
    assert programmes(tagger, "失业保险管理中心发放失业保险金") == ["失业保险"]


def test_a_lexicon_schemes_pilot_is_part_of_its_name():
    tagger = RuleTagger(programmes=hand_rules())
    text = "88个城市启动城镇居民基本医疗保险试点；开展工伤保险制度试点"
    assert programmes(tagger, text) == ["城镇居民基本医疗保险试点", "工伤保险"]  # 制度试点: the name ends before


def test_a_learnt_file_is_checked():
    with pytest.raises(InputError, match="unknown key"):
        apply_learned(hand_rules(), {"names": [], "namez": []}, "programmes-learned.yaml")
    with pytest.raises(InputError, match="names must be a list of mappings"):
        apply_learned(hand_rules(), {"names": ["暖心包"]}, "programmes-learned.yaml")


def test_jackknifed_hints_do_not_know_a_documents_own_names(monkeypatch):
    # 暖心包 is tagged only in doc "a" (twice): rules learnt from all documents know it there,
    # rules learnt from the other fold do not
    from minzheng_ie.annotation.rules import programmes as programme_module

    docs = [doc("a", "发放暖心包，再发暖心包。", "暖心包")] + [doc(f"x{i}", "推进城乡低保。", "城乡低保") for i in range(3)]
    everything = learnt_rules(docs)
    monkeypatch.setattr(programme_module, "programme_rules", lambda: everything)  # as if committed
    assert programmes(RuleTagger(), docs[0].text) == ["暖心包", "暖心包"]
    hinter = rule_hinter(jackknife=docs, folds=2)
    assert [e for e in hinter(docs[0]) if e.label == "programme"] == []
    copy = traditional_copy(docs[0])  # 發放暖心包: hinted with its original's fold, not the full rules
    assert programmes(RuleTagger(), copy.text) == ["暖心包", "暖心包"]
    assert [e for e in hinter(copy) if e.label == "programme"] == []
    assert [docs[1].text[e.start:e.end] for e in hinter(docs[1])] == ["城乡低保"]


def test_cli_learns_from_train_and_refuses_dev_and_test(tmp_path, capsys):
    data = tmp_path / "gold.jsonl"
    write_jsonl(GOLD, data)
    out = tmp_path / "learnt.yaml"
    assert main(["-q", "annotate", "learn-rules", str(data), "-o", str(out)]) == 0
    learnt = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert [x["name"] for x in learnt["names"]] == ["暖心包"] and learnt["documents"] == 4
    assert main(["-q", "annotate", "learn-rules", "annotation/data/gold/split.json:test", "-o", str(out)]) == 2
    assert "train part only" in capsys.readouterr().err


def test_the_committed_learnt_rules_are_what_the_train_split_teaches():
    # rerun `mzie annotate learn-rules annotation/data/gold/split.json:train` when this fails:
    # the gold's train part or the hand rules changed since the file was written
    from minzheng_ie.annotation.convert import load_docs
    from minzheng_ie.annotation.rules.programmes import LEARNED
    from minzheng_ie.core.config import read_yaml
    from minzheng_ie.core.schema import config_path

    from conftest import GOLD_EXPORT

    committed = read_yaml(config_path(LEARNED))
    source = committed["source"]
    assert source == "annotation/data/gold/split.json:train"
    settings = LearnSettings(committed["min_precision"], committed["min_tagged"], committed["min_hits"])
    train = load_docs(f"{GOLD_EXPORT.parent / 'split.json'}:train")  # wherever pytest runs from
    assert learn_rules(train, settings, source=source) == committed
