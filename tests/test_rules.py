"""The rule pre-annotator on the spec's own examples, and its contract with the spec."""
from dataclasses import replace

import pytest

from minzheng_ie.core.record import Doc, Entity
from minzheng_ie.annotation.rules import RuleTagger
from minzheng_ie.annotation.rules.figures import find_figures
from minzheng_ie.annotation.rules.programmes import find_programmes, hand_rules
from minzheng_ie.core.spec import edge_problem


@pytest.fixture(scope="module")
def tagger():
    return RuleTagger()


def figures(text):
    return [(text[f.start:f.end], f.label) for f in find_figures(text)]


@pytest.mark.parametrize("text,expected", [
    ("支出低保资金47.22亿元,保障88.72万人", [("47.22亿元", "amount"), ("88.72万人", "count")]),
    ("价值11.3万元", [("11.3万元", "amount")]),
    ("总投资10.8万亿元", [("10.8万亿元", "amount")]),
    ("出口创汇572.3亿美元", [("572.3亿美元", "amount")]),
    ("耗资9亿建公园", [("9亿", "amount")]),
    ("压减8.5万立方米，新增装机5055万千瓦，棉花270万担", []),
    ("旅客周转量三百二十亿人公里", []),
    ("其中本科生6000至6500人，导诊4-6人", [("6000至6500人", "count"), ("4-6人", "count")]),
    ("提高2-3个百分点，历时1-3个月", []),
    ("备案慈善信托54单，建成住宅楼67栋", [("54单", "count"), ("67栋", "count")]),
    ("经过5个多小时抢救，60个自然日内兑奖，建成83个小区", [("83个", "count")]),
    ("生育三孩给予一次性补助5000元", [("5000元", "standard")]),
    ("最高综合优惠6万元，三孩家庭25000元", [("6万元", "standard"), ("25000元", "standard")]),
    ("处每株5万元以上的罚款", [("每株5万元", "standard")]),
    ("地区生产总值87435.1亿元，营业收入181.8亿元", [("87435.1亿元", "amount"), ("181.8亿元", "amount")]),
    ("城镇居民人均可支配收入41314元，次均住院费用2095.8元", []),
    ("约350万元左右", [("350万元", "amount")]),
    ("筹集10余万元,惠及1万余名群众和6000余张床位", [("10余万元", "amount"), ("1万余名", "count"), ("6000余张", "count")]),
    ("每张床位5000元—1万元", [("每张床位5000元—1万元", "standard")]),
    ("资助5000元—1万元", [("5000元—1万元", "amount")]),
    ("支出低保金3347万", [("3347万", "amount")]),
    ("投入资金171.27通过", []),
    ("每月发放916059元/月", [("916059元", "amount")]),
    ("分别达到每人每月620元、496元", [("每人每月620元", "standard"), ("496元", "standard")]),
    ("4200元/年,65元/人/月,349元/月", [("4200元/年", "standard"), ("65元/人/月", "standard"), ("349元/月", "standard")]),
    ("家庭月人均1245元", [("家庭月人均1245元", "standard")]),
    ("月人均救助水平218元", [("218元", "standard")]),
    ("每人每月享受补贴600元", [("600元", "standard")]),
    ("标准4000元,封顶线40000元", [("4000元", "standard"), ("40000元", "standard")]),
    ("人均可支配收入41314元", []),
    ("2020年11月底,40.17%,1∶0.8,第十五届,4.7万平方米,5.6億小時,12345热线", []),
    ("新建238.0 万个床位", [("238.0 万个", "count")]),
    ("5个区", [("5个", "count")]),
    ("2965家(次)", [("2965家", "count")]),
    ("共銷售福利彩票28億元,服務7164個", [("28億元", "amount"), ("7164個", "count")]),
    ("新建两家,两项补贴,五个民政", [("两家", "count")]),
    ("新建两家养老院,一个中心,一批项目,十四五期间", [("两家", "count")]),
    ("投入三千五百万元,帮扶两百多人,新增1.2万人,壹佰万元", [("三千五百万元", "amount"), ("两百多人", "count"),
                                                      ("1.2万人", "count"), ("壹佰万元", "amount")]),
    ("受益农户4,560户", [("4,560户", "count")]),
    ("每千名老年人拥有床位37张,每个区县至少有1家机构", []),
    ("发放１２０万元", [("１２０万元", "amount")]),
])
def test_figures_follow_the_spec(text, expected):
    assert figures(text) == expected


def spans(doc):
    return [(e.text, e.label) for e in doc.entities]


def test_region_chain_is_split_one_level_per_span(tagger):
    doc = tagger(Doc("t", "重庆市渝中区大坪街道浮图关社区幸福老年食堂"))
    assert spans(doc)[:4] == [("重庆市", "region"), ("渝中区", "region"), ("大坪街道", "region"),
                              ("浮图关社区", "region")]


def test_region_inside_organisation_names(tagger):
    doc = tagger(Doc("t", "信息来源:洪江市民政局。安江中心敬老院、黔城镇双溪敬老院"))
    assert ("洪江市", "region") in spans(doc) and ("黔城镇", "region") in spans(doc)
    assert not any(t.startswith("安江") for t, _ in spans(doc))


def test_place_opening_an_organisation_name_further_on_is_not_a_region(tagger):
    doc = tagger(Doc("t", "梅宏曾任上海交通大学副校长，现在上海工作。枣庄电视台、枣庄市电视台、重慶工商大學报道。"))
    regions = [t for t, lab in spans(doc) if lab == "region"]
    assert regions == ["上海", "枣庄市"]  # 在上海工作 is a place; 上海交通大学 and 枣庄电视台 are names
    assert [e.start for e in doc.entities if e.label == "region"][0] == doc.text.index("上海工作")
    # punctuation ends the run: a list of places followed by an organisation word elsewhere is untouched
    listed = tagger(Doc("t", "学习上海、浙江，建设养老服务大学"))
    assert [t for t, lab in spans(listed) if lab == "region"] == ["上海", "浙江"]


def test_short_forms_need_their_province_in_the_document(tagger):
    with_context = tagger(Doc("t", "重庆市大足、南岸、渝北、北碚、万州5个区通过验收。"))
    assert [t for t, lab in spans(with_context) if lab == "region"] == ["重庆市", "大足", "南岸", "渝北", "北碚", "万州"]
    without = tagger(Doc("t", "江水冲刷南岸,北碚一带。"))
    assert not [t for t, lab in spans(without) if lab == "region"]


def test_short_form_gives_way_to_a_full_name_starting_inside_it(tagger):
    # 吉林 in the document allows the county short form 和龙 (和龙市); here its 龙 begins 龙文区
    doc = tagger(Doc("t", "吉林省延边州和龙有温泉。漳州市餐饮烹饪行业协会和龙文区新时代文明实践中心"))
    regions = [t for t, lab in spans(doc) if lab == "region"]
    assert regions == ["吉林省", "延边州", "和龙", "漳州市", "龙文区"]


def test_autonomous_areas_by_short_form_and_plain_suffix(tagger):
    doc = tagger(Doc("t", "毕节市威宁自治县斗古镇，四川省阿坝州红原县，凉山自治州"))
    regions = [t for t, lab in spans(doc) if lab == "region"]
    assert regions[:4] == ["毕节市", "威宁自治县", "斗古镇", "四川省"]
    assert regions[4:] == ["阿坝州", "红原县", "凉山自治州"]


def test_metropolitan_and_economic_areas_are_one_named_area(tagger):
    doc = tagger(Doc("t", "安徽省支持合肥都市圈与阜阳城市圈联动，成渝经济区、港澳台和皖北"))
    regions = [t for t, lab in spans(doc) if lab == "region"]
    assert regions == ["安徽省", "合肥都市圈", "阜阳", "成渝经济区", "港澳台", "皖北"]


def test_generic_words_the_gazetteer_holds_as_township_names_are_not_regions(tagger):
    doc = tagger(Doc("t", "全面推进振兴乡村，下游城乡生态提升，发展乡村旅游，清理开发区和国有农场"))
    assert not [t for t, lab in spans(doc) if lab == "region"]


def test_relative_references_are_not_regions(tagger):
    doc = tagger(Doc("t", "全市、全区、我市、本市、市级、全国、城乡、农村低保"))
    assert not [t for t, lab in spans(doc) if lab == "region"]


def test_programmes_leave_out_generic_words_and_quotes(tagger):
    doc = tagger(Doc("t", "发放低保资金,特困供养金,城乡低保对象,残疾人“两项补贴”资金,“福彩圆梦·孤儿助学”。"))
    progs = [t for t, lab in spans(doc) if lab == "programme"]
    assert progs == ["低保", "特困供养", "城乡低保", "两项补贴", "福彩圆梦·孤儿助学"]


@pytest.mark.parametrize("text,expected", [
    ("全面实施高龄老人津贴。", ["高龄老人津贴"]),
    ("城乡社区困难家庭全面实施高龄老人津贴。", ["高龄老人津贴"]),  # long run, cut at the verb
    # 12-16 characters before the suffix: dropped whole, not cut to its last ten characters
    ("，城乡社区困难家庭儿童课后托管关爱计划。", []),
    ("，启动城乡社区困难家庭儿童关爱计划。", []),
])
def test_unquoted_scheme_names_are_kept_whole_or_not_at_all(text, expected):
    hits = find_programmes(text, hand_rules())
    assert [text[h.start:h.end] for h in hits if h.cue.startswith("name ending")] == expected


@pytest.mark.parametrize("text,expected", [
    ("全市开展了希望工程。", ["希望工程"]),                # 了 ends the verb phrase in front
    ("老百姓可领取生育津贴。", ["生育津贴"]),              # a leading verb
    ("招聘研发工程师。", []),                            # 工程师, 计划生育: the suffix is inside another word
    ("继续实行计划生育。", []),
    ("在有条件的10个区县试点。", []),                     # a count of places, not a name
    ("按照第一个五年计划。完成年度招生计划。", []),        # not programme words
])
def test_unquoted_scheme_name_edges(text, expected):
    hits = find_programmes(text, hand_rules())
    assert [text[h.start:h.end] for h in hits if h.cue.startswith("name ending")] == expected


def programme_texts(text, extra_names=()):
    """The programmes the whole tagger keeps (overlapping candidates resolved), from the hand
    rules plus `extra_names`, so the test does not depend on the learnt file."""
    rules = hand_rules()
    rules = replace(rules, names=rules.names | frozenset(extra_names))
    doc = RuleTagger(programmes=rules).entities(Doc("t", text))
    return [e.text for e in doc.entities if e.label == "programme"]


@pytest.mark.parametrize("text,expected", [
    ("2007年城镇职工基本医疗保险参保人数。", ["城镇职工基本医疗保险"]),
    ("占全市农村特困供养人数的12%。", ["农村特困供养"]),      # the qualified name beats 农村特困
    ("城市居民最低生活保障制度。", ["城市居民最低生活保障"]),
    ("城乡低保。", ["城乡低保"]),                            # a lexicon name is not qualified twice
])
def test_a_qualifier_belongs_to_the_lexicon_name_after_it(text, expected):
    assert programme_texts(text) == expected


@pytest.mark.parametrize("text,extra,expected", [
    # the quotes give the whole name; the lexicon name inside is part of it
    ("举行“光彩助学——圆梦行动”助学金发放。", ["圆梦行动"], ["光彩助学——圆梦行动"]),
    # the spec's trailing 项目 and 工程: outside when the name stands without them
    ("持续实施“福彩圆梦·孤儿助学工程”。", [], ["福彩圆梦·孤儿助学"]),
    ("实施“孤儿医疗康复明天计划项目”。", [], ["孤儿医疗康复明天计划"]),
    # a year inside marks an event's title around the scheme: the lexicon name stays
    ("主办的“大手牵小手——2023年母亲微笑行动”走进贵州。", ["母亲微笑行动"], ["母亲微笑行动"]),
])
def test_quoted_name_around_a_lexicon_name(text, extra, expected):
    assert programme_texts(text, extra) == expected


def test_figure_owner_rule(tagger):
    doc = tagger(Doc("t", "社会救助资金4652.07万元。加强社会救助体系建设。"))
    assert spans(doc) == [("社会救助", "programme"), ("4652.07万元", "amount")]


def test_region_qualified_scheme_is_one_programme(tagger):
    doc = tagger(Doc("t", "我市获批怀化市农村居家和社区养老服务改革试点。"))
    assert ("怀化市农村居家和社区养老服务改革试点", "programme") in spans(doc)


def test_relations_follow_the_spec_example(tagger):
    doc = tagger(Doc("t", "支出低保资金47.22亿元,保障低保对象88.72万人。"))
    rels = {(doc.text_of(r.head), r.label, doc.text_of(r.tail)) for r in doc.relations}
    assert rels == {("低保", "has_amount", "47.22亿元"), ("低保", "has_count", "88.72万人")}
    by_id = doc.entity_by_id()
    heads = {by_id[r.head].start for r in doc.relations}
    assert len(heads) == 2  # each figure links to the mention in its own clause


def test_region_list_after_the_programme_clause(tagger):
    doc = tagger(Doc("t", "重庆市推进居家和社区养老服务改革试点,大足、南岸、渝北、北碚、万州5个区通过国家改革试点成果评审验收。"))
    rels = {(doc.text_of(r.head), r.label, doc.text_of(r.tail)) for r in doc.relations}
    assert {("居家和社区养老服务改革试点", "in_region", place) for place in ("大足", "南岸", "渝北", "北碚", "万州")} <= rels


def linked_regions(text, names, places):
    """in_region links the rule linker makes among hand-placed programmes and regions (each
    string's first occurrence), as (programme, region) texts."""
    from minzheng_ie.annotation.rules.relations import find_relations

    ents = sorted([(text.index(n), n, "programme") for n in names] + [(text.index(p), p, "region") for p in places])
    entities = [Entity(i, i + len(s), label, s, f"T{k}") for k, (i, s, label) in enumerate(ents, 1)]
    by_id = {e.id: e.text for e in entities}
    return {(by_id[r.head], by_id[r.tail]) for r in find_relations(text, entities, RuleTagger().schema)
            if r.label == "in_region"}


def test_a_subject_region_links_the_programmes_of_a_later_clause():
    text = "2023年3月1日起，德州市按照国家统一部署，基本医疗保险、工伤保险和生育保险统一执行新的缴费基数。"
    assert linked_regions(text, ["基本医疗保险", "工伤保险", "生育保险"], ["德州市"]) == {
        ("基本医疗保险", "德州市"), ("工伤保险", "德州市"), ("生育保险", "德州市")}


def test_a_region_without_a_programme_in_its_clause_links_the_nearest_one_before_it():
    text = "开展“挥毫九州·国学书法教育”公益项目，助学行动在保定落地，惠及师生。"
    assert linked_regions(text, ["挥毫九州·国学书法教育"], ["保定"]) == {("挥毫九州·国学书法教育", "保定")}
    # the region of its own clause still wins, and a region further off than REGION_REACH is not linked
    text = "临时救助覆盖洪江市，特困供养覆盖" + "、".join(["辖区"] * 30) + "，还走访了黔城镇。"
    assert linked_regions(text, ["临时救助", "特困供养"], ["洪江市", "黔城镇"]) == {("临时救助", "洪江市")}


def test_the_region_part_of_an_organisation_name_links_the_programme_it_runs():
    text = "近日，衡阳县民政局在“兜底解忧暖民心”行动中走访困难群众。"
    assert linked_regions(text, ["兜底解忧暖民心"], ["衡阳县"]) == {("兜底解忧暖民心", "衡阳县")}


def test_region_linking_work_grows_linearly_in_a_run_on_sentence():
    """A sentence of n clauses, each with a region and every other one with a programme: the
    sentence search bisects, so doubling n about doubles the work."""
    from minzheng_ie.annotation.rules.relations import find_relations

    schema = RuleTagger().schema

    def sentence(n):
        text, entities = "", []
        for k in range(n):
            if k % 2 == 0:
                entities.append(Entity(len(text), len(text) + 4, "programme", "临时救助", f"P{k}"))
                text += "临时救助，"
            entities.append(Entity(len(text) + 2, len(text) + 5, "region", "洪江市", f"R{k}"))
            text += "走访洪江市，"
        return text, entities

    steps = [traced_steps(find_relations, *sentence(n), schema) for n in (200, 400, 800)]
    ratios = [b / a for a, b in zip(steps, steps[1:])]
    assert all(r < 2.2 for r in ratios), (steps, ratios)


def test_nothing_but_a_suffixed_region_is_tagged_inside_a_title(tagger):
    doc = tagger(Doc("t", "人社部发布《关于开展高校毕业生就业服务攻坚行动的通知》，《长沙倡议》和《北京市临时救助办法》也已印发。"
                          "各地做好临时救助。"))
    assert spans(doc) == [("北京市", "region"), ("临时救助", "programme")]
    assert doc.entities[-1].start > doc.text.index("。")  # the campaign outside the title


def test_titles_are_found_on_one_line_and_never_across_another():
    from minzheng_ie.core.spec import Titles

    text = "《甲》乙《丙\n丁》《戊《己》"
    titles = Titles(text)
    assert titles.spans == [(0, 3), (11, 14)]  # 《丙 and 丁》 are cut by the line break; 《戊 never closes
    assert titles.around(1, 2) and titles.around(12, 13)
    assert not titles.around(3, 4) and not titles.around(5, 6) and not titles.around(2, 4)


def test_differences_and_thresholds_are_not_linked(tagger):
    doc = tagger(Doc("t", "城乡低保标准比上年增加6元,低保覆盖5000户以上。"))
    linked = {doc.text_of(r.tail) for r in doc.relations}
    assert "6元" not in linked and "5000户" not in linked


def test_fenbie_pairs_in_order(tagger):
    doc = tagger(Doc("t", "集中供养和分散供养标准分别达到每月1456元、1256元。"))
    rels = {(doc.text_of(r.head), doc.text_of(r.tail)) for r in doc.relations}
    assert rels == {("集中供养", "每月1456元"), ("分散供养", "1256元")}


def test_traditional_script_is_matched_through_opencc(tagger):
    doc = tagger(Doc("t", "北京市銷售福利彩票28億元,發放臨時救助資金。"))
    assert spans(doc) == [("北京市", "region"), ("福利彩票", "programme"), ("28億元", "amount"),
                          ("臨時救助", "programme")]


def test_every_suggestion_has_a_score_and_obeys_the_edge_rules(tagger, gold_docs):
    for g in gold_docs:
        doc = tagger(Doc(g.id, g.text))
        assert doc.problems() == []
        for e in doc.entities:
            assert e.score is not None and 0 < e.score <= 1
            assert edge_problem(e.text, e.label) is None, (g.id, e.text)
        spans_sorted = sorted((e.start, e.end) for e in doc.entities)
        assert all(a[1] <= b[0] for a, b in zip(spans_sorted, spans_sorted[1:]))
        assert all(r.score is not None for r in doc.relations)


def test_document_fields(tagger):
    doc = tagger(Doc("t", "发布时间:2020-10-22 09:13 信息来源:洪江市民政局\n今年以来,全市低保..."))
    assert doc.meta.source.startswith("发布时间") and doc.meta.year == 2020 and doc.meta.jurisdiction == "洪江市"


# One paragraph with every kind of entity, 分别, a region list and a difference: 2 sentences, 122 characters.
PARAGRAPH = ("重庆市全年支出城乡低保资金47.22亿元,保障困难群众88.72万人,比上年增加6元;"
             "特困供养和临时救助分别支出3.5万元、1,234万元。改革试点,大足、南岸、渝北等5个区通过验收,"
             "农村低保标准每人每月620元。\n")


def traced_steps(fn, *args) -> int:
    """Python lines executed by fn(*args), comprehension and generator steps included: a count
    of work that does not depend on how busy the machine is."""
    import sys

    steps = 0

    def tracer(frame, event, arg):
        nonlocal steps
        if event == "line":
            steps += 1
        return tracer

    sys.settrace(tracer)
    try:
        fn(*args)
    finally:
        sys.settrace(None)
    return steps


def test_rule_tagging_work_grows_linearly_with_document_length(tagger):
    """Each doubling of the document must at most about double the work (2.2×: a little slack
    for fixed costs). A stage that compares every span with every other one, as resolve,
    Doc ids and the relation rules once did, grows by 4× per doubling and fails this."""
    tagger(Doc("warm", PARAGRAPH))  # the lexicon and gazetteer load on first use: not part of the count
    steps = [traced_steps(tagger, Doc("x", PARAGRAPH * n)) for n in (8, 16, 32)]
    ratios = [b / a for a, b in zip(steps, steps[1:])]
    assert all(r < 2.2 for r in ratios), (steps, ratios)
