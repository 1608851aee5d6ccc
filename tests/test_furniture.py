from pathlib import Path

import pytest

from minzheng_ie.annotation.furniture import drop_furniture, furniture_spans
from minzheng_ie.core.record import Doc, Relation

SEEDS = Path(__file__).resolve().parents[1] / "annotation" / "data" / "seeds"

# Every line of the seed reports that is marked, whole. Nothing else may be: the source
# lines (来源:中国社会报…, 信息来源:洪江市民政局) and picture captions are the report's.
SEED_FURNITURE = {
    "000_a85ebe8d9dec68a7": [],
    "001_0dd260e4e68950d3": ["【字体:大 中 小】 打印 收藏 分享到 |"],
    "002_3b4a79cdc2f7a15c": ["扫一扫在手机端打开当前页"],
    "003_8bdc944e65f53c72": [],
    "004_de3bbe2bfbcda6ef": [],
}


def marked(text):
    return [text[s:e] for s, e in furniture_spans(text)]


def test_seed_reports_exactly_their_furniture_lines():
    seeds = sorted(SEEDS.glob("*.txt"))
    assert [p.stem for p in seeds] == sorted(SEED_FURNITURE)
    for path in seeds:
        text = path.read_text(encoding="utf-8")
        assert marked(text) == SEED_FURNITURE[path.stem], path.name
        lines = text.splitlines()
        for span in SEED_FURNITURE[path.stem]:
            assert span in lines  # whole lines, not parts of a report line


FURNITURE_LINES = [
    "【字体:大 中 小】 打印 收藏 分享到 |",
    "字号:大 中 小 【打印】 【关闭】",
    "【打印本页】【关闭窗口】",
    "[打印] [关闭]",
    "扫一扫在手机端打开当前页",
    "首页 > 新闻中心 > 民政要闻",
    "网站首页>>政务公开>>工作总结",
    "当前位置:首页 > 政务公开 > 工作总结",
    "您现在的位置: 首页 >> 民政要闻",
    "分享到:",
    "分享到: 微信 微博 QQ空间",
    "上一篇:洪江市召开民政工作会议",
    "下一篇:关于做好2021年春节期间困难群众走访慰问工作的通知",
    "相关链接",
    "网站地图 | 联系我们 | 网站声明",
    "版权所有:洪江市民政局 湘ICP备12345678号-1",
    "主办单位:洪江市民政局 承办单位:洪江市政务服务中心",
    "访问量:123456",
    "浏览次数:356",
    # traditional script, Taiwan wording included
    "【字體:大 中 小】 列印 關閉視窗",
    "當前位置:首頁 > 新聞中心",
    "上一篇:北京市民政局召開會議",
    "網站地圖 | 聯絡我們",
    "版權所有 © 北京市民政局",
    "主辦單位:北京市民政局",
    "瀏覽次數:35",
    "友善列印 回到頁首 轉寄",
]


@pytest.mark.parametrize("line", FURNITURE_LINES)
def test_furniture_lines_are_marked_whole(line):
    text = f"北京市民政局\r\n  {line}  \r\n低保标准每人每月1245元。"
    start = text.index(line)
    assert furniture_spans(text) == [(start, start + len(line))]


def test_furniture_inside_a_line_is_marked_alone():
    assert marked("发布时间:2020-10-22 浏览次数:356 信息来源:洪江市民政局") == ["浏览次数:356"]
    assert marked("发布日期:2020-10-22 【打印】【关闭】") == ["【打印】【关闭】"]
    assert marked("您是本站第1,234位访问者") == ["您是本站第1,234位访问者"]


PROSE = [
    "民政局网站访问量达到12万人次。",
    "购置打印机、复印机等办公设备,共计3.5万元。",
    "主办单位为市民政局,承办单位为各区县民政局。",
    "群众扫一扫二维码即可在线申请临时救助。",
    "微信公众号阅读量达到120万次,关闭养老机构3家。",
    "当前位置偏远的农村敬老院实施改扩建。",
    "上一篇章节已介绍城乡低保情况。",
    "首页面向群众展示救助政策。",
    "版权意识和保护水平不断提高。",
    "相关链接部门协同推进救助工作。",
    "收藏品市场规范管理。",
    "微信",
    "微博",
    "分享经验做法。",
    "(来源:中国社会报2020.12.24)",
    "信息来源:洪江市民政局",
    "发布时间:2020-10-22 09:13 信息来源:洪江市民政局",
    # a label rule never takes a long line, even one that starts like furniture
    "当前位置:" + "全市民政系统坚持以人民为中心,保障困难群众基本生活。" * 5,
]


@pytest.mark.parametrize("line", PROSE)
def test_report_lines_are_never_marked(line):
    assert furniture_spans(line) == []


def test_drop_furniture_removes_entities_and_their_relations_in_place():
    text = "主办单位:洪江市民政局\n洪江市城乡低保标准每人每月620元。\n浏览次数:356"
    doc = Doc("d", text)
    in_footer = doc.add(text.index("洪江市"), text.index("洪江市") + 3, "region")
    region = doc.add(text.index("洪江市", 10), text.index("洪江市", 10) + 3, "region")
    programme = doc.add(text.index("城乡低保"), text.index("城乡低保") + 4, "programme")
    standard = doc.add(text.index("620元"), text.index("620元") + 4, "standard")
    counter = doc.add(text.index("356"), text.index("356") + 3, "count")
    doc.relations = [Relation(programme.id, standard.id, "has_standard"),
                     Relation(programme.id, region.id, "in_region"),
                     Relation(programme.id, in_footer.id, "in_region"),
                     Relation(programme.id, counter.id, "has_count")]
    out = drop_furniture(doc)
    assert out is doc and doc.text == text
    assert [e.id for e in doc.entities] == [region.id, programme.id, standard.id]
    assert doc.relations == [Relation(programme.id, standard.id, "has_standard"),
                             Relation(programme.id, region.id, "in_region")]
    assert not doc.problems()


def test_drop_furniture_keeps_a_doc_without_furniture_as_it_is():
    doc = Doc("d", "城乡低保标准每人每月620元。")
    doc.add(0, 4, "programme")
    assert drop_furniture(doc).entities == [doc.entities[0]] and len(doc.entities) == 1
