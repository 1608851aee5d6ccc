"""The consistency checks find different decisions on one surface and figures left unlinked."""
from minzheng_ie.annotation import markup
from minzheng_ie.annotation.consistency import findings


def test_same_surface_other_decision_and_unlinked_figure_are_found():
    a = markup.parse("[[临时救助|programme|p]]支出[[300万元|amount|a]]。\n#rel p has_amount a", "a")
    b = markup.parse("全年临时救助[[1200人次|count]],[[临时救助|region]]站[[5个|count]]。", "b")
    found = findings([a, b])
    what = [(f.doc, f.kind, f.what) for f in found]
    assert ("b", "surface", "'临时救助' untagged here, tagged elsewhere (programme ×1, region ×1)") in what
    assert any(f.doc == "b" and f.kind == "surface" and "is region here, elsewhere programme ×1" in f.what
               for f in found)
    assert not any(f.doc == "a" and f.kind == "unlinked" for f in found)  # its figure is linked
    # both figures share the programme's clause; the difference is listed too (an exception to confirm),
    # the figure in the next clause is not
    c = markup.parse("[[低保|programme]]标准[[620元|standard]]比上年增加[[6元|standard]],新增[[12户|count]]。", "c")
    unlinked = [f for f in findings([c]) if f.kind == "unlinked"]
    assert [f.start for f in unlinked] == [c.entities[1].start, c.entities[2].start]


def test_an_untagged_surface_inside_a_longer_word_is_not_reported():
    a = markup.parse("[[重庆|region]]发放救助金。", "a")
    b = markup.parse("新重庆人。", "b")  # 重庆 between two CJK characters: another word
    assert findings([a, b]) == []
