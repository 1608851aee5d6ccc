"""HTML, DOCX and PDF inputs: extracted text, metadata, and failures that name the fix.

Every fixture is built here (python-docx, reportlab with its built-in Chinese CID fonts),
so the tests stay offline and fast.
"""
import io
import json

import docx
import pytest
from reportlab.lib import pdfencrypt
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate

from minzheng_ie.annotation.furniture import furniture_spans
from minzheng_ie.core.readers import ReadFailure, decode_html, read_inputs
from minzheng_ie.core.record import Doc

pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))  # Adobe-GB1: simplified
pdfmetrics.registerFont(UnicodeCIDFont("MSung-Light"))  # Adobe-CNS1: traditional


def split(results):
    docs = [r for r in results if isinstance(r, Doc)]
    fails = [r for r in results if isinstance(r, ReadFailure)]
    return docs, fails


def read_one(path):
    results = list(read_inputs([str(path)]))
    assert len(results) == 1, results
    return results[0]


# -- HTML ----------------------------------------------------------------------------------

GOV_PAGE = """<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN">
<html><head>
<meta http-equiv="Content-Type" content="text/html; charset=gb2312">
<title>洪江市民政局2020年工作总结</title>
<style>.hide {{ color: red }}</style>
<script type="text/javascript">var title = "低保标准每人每月999元";</script>
</head>
<body>
<div class="nav">当前位置:<a href="/">首页</a> &gt; <a>民政要闻</a></div>
<table width="100%"><tr><td>
  <h1>洪江市民政局2020年工作总结</h1>
  <div class="info">发布时间:2020-10-22 浏览次数:<span id="hits">356</span></div>
  <p>&nbsp;&nbsp;今年以来,保障城乡最低生活对象5719户、10833人,
  城乡低保标准分别达到每人每月620元、496元。</p>
  <p>{rare}同志到临时
     救助站调研。<br>二、存在的主要问题</p>
  <div style="display: none">隐藏的低保标准每人每月888元</div>
  <div hidden>特困人员777人</div>
  <noscript>请启用脚本</noscript>
  <table border="1">
    <tr><th>项目</th><th>标准</th></tr>
    <tr><td><p>城市低保</p></td><td>620元</td></tr>
  </table>
  <div>【打印本页】【关闭窗口】</div>
</td></tr></table>
<!-- 统计代码 -->
</body></html>
"""


def gov_page(rare="朱镕基"):  # 镕 is in GBK and GB18030 but not GB2312: the label undersells the page
    return GOV_PAGE.format(rare=rare)


EXPECTED_PAGE_TEXT = (
    "当前位置:首页 > 民政要闻\n"
    "洪江市民政局2020年工作总结\n"
    "发布时间:2020-10-22 浏览次数:356\n"
    "今年以来,保障城乡最低生活对象5719户、10833人, 城乡低保标准分别达到每人每月620元、496元。\n"
    "朱镕基同志到临时救助站调研。\n"
    "二、存在的主要问题\n"
    "项目\t标准\n"
    "城市低保\t620元\n"
    "【打印本页】【关闭窗口】"
)


def test_html_in_gb18030_gives_the_visible_text_one_block_per_line(tmp_path):
    path = tmp_path / "report.html"
    path.write_bytes(gov_page().encode("gb18030"))
    doc = read_one(path)
    assert isinstance(doc, Doc), doc
    assert doc.text == EXPECTED_PAGE_TEXT
    # script, style, title, hidden elements and comments are not text a reader sees
    for hidden in ("999", "888", "777", "请启用", "统计代码", "color"):
        assert hidden not in doc.text
    assert doc.meta.extra == {"file": str(path), "encoding": "gb18030", "format": "html"}
    # the navigation and the buttons come through as text; page furniture marks them
    marked = [doc.text[s:e] for s, e in furniture_spans(doc.text)]
    assert marked == ["当前位置:首页 > 民政要闻", "浏览次数:356", "【打印本页】【关闭窗口】"]


def test_html_charset_sources(tmp_path):
    # a label that does not fit the bytes: the detection decode_bytes does takes over
    (tmp_path / "wrong_label.htm").write_bytes(gov_page().replace("gb2312", "utf-8").encode("gb18030"))
    # no label at all
    (tmp_path / "no_label.shtml").write_bytes(gov_page().replace("charset=gb2312", "").encode("gb18030"))
    # an XML declaration (XHTML), traditional script in Big5
    xhtml = '<?xml version="1.0" encoding="big5"?>\n<html><body><p>北京市民政局發放臨時救助資金。</p></body></html>'
    (tmp_path / "big5.xhtml").write_bytes(xhtml.encode("big5"))
    # UTF-8 with a byte-order mark and an HTML5 meta charset
    (tmp_path / "bom.html").write_bytes(b"\xef\xbb\xbf" + '<meta charset="utf-8"><p>低保</p>'.encode())
    docs, fails = split(list(read_inputs([str(tmp_path)])))
    assert not fails
    by_id = {d.id: d for d in docs}
    assert by_id["wrong_label"].text == EXPECTED_PAGE_TEXT
    assert by_id["no_label"].text == EXPECTED_PAGE_TEXT
    assert by_id["big5"].text == "北京市民政局發放臨時救助資金。"
    assert by_id["big5"].meta.extra["encoding"] == "big5hkscs"
    assert by_id["bom"].text == "低保"


def test_decode_html_honours_the_declared_charset():
    page = '<html><head><meta charset="GBK"></head><body>低保</body></html>'
    assert decode_html(page.encode("gbk")) == (page, "gb18030")
    # a server default of latin-1 says nothing about a Chinese page
    page = page.replace("GBK", "iso-8859-1")
    assert decode_html(page.encode("utf-8")) == (page, "utf-8")


def test_html_layout(tmp_path):
    page = ("<body><ul><li>一</li><li>二</li></ul>"
            "<table><tr><td>农村低保</td><td></td><td>496元</td></tr></table>"
            "<p>甲<br><br>乙</p><p>&nbsp;</p><div><div><p>丙</p></div></div>"
            "<pre>第一行\n  第二行</pre><select><option>北京市</option><option>上海市</option></select>"
            "<p>临时\n救助</p></body>")
    (tmp_path / "layout.html").write_text(page, encoding="utf-8")
    doc = read_one(tmp_path / "layout.html")
    # a blank line only where the page had one (<br><br>); empty cells leave no double tab;
    # a source line break between Chinese characters is the editor wrapping, not a space
    assert doc.text == "一\n二\n农村低保\t496元\n甲\n\n乙\n丙\n第一行\n第二行\n临时救助"


def test_html_without_visible_text_is_a_failure(tmp_path):
    (tmp_path / "scripts.html").write_text("<html><head><script>var a = 1;</script></head><body> </body></html>",
                                           encoding="utf-8")
    fail = read_one(tmp_path / "scripts.html")
    assert isinstance(fail, ReadFailure) and "no visible text" in fail.reason


# -- DOCX ----------------------------------------------------------------------------------

def make_docx() -> bytes:
    d = docx.Document()
    d.add_heading("洪江市民政局2020年工作总结", level=1)
    d.add_paragraph("今年以来,保障城乡最低生活对象5719户、10833人。")
    d.add_paragraph("")  # spacing paragraphs leave no blank line
    table = d.add_table(rows=3, cols=3)
    for r, row in enumerate([("项目", "标准", "人数"), ("城市低保", "620元", "1000人")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    total = table.cell(2, 0).merge(table.cell(2, 1))  # a merged cell is written once
    total.text = "合计"
    table.cell(2, 2).text = "3000人"
    d.add_paragraph("表后:二、存在的主要问题")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def test_docx_paragraphs_and_tables_in_document_order(tmp_path):
    path = tmp_path / "report.docx"
    path.write_bytes(make_docx())
    doc = read_one(path)
    assert isinstance(doc, Doc), doc
    assert doc.text == ("洪江市民政局2020年工作总结\n"
                        "今年以来,保障城乡最低生活对象5719户、10833人。\n"
                        "项目\t标准\t人数\n"
                        "城市低保\t620元\t1000人\n"
                        "合计\t3000人\n"
                        "表后:二、存在的主要问题")
    assert doc.meta.extra == {"file": str(path), "format": "docx"}


def test_docx_cell_with_several_paragraphs_is_laid_out_as_lines(tmp_path):
    d = docx.Document()
    cell = d.add_table(rows=1, cols=2).cell(0, 1)
    cell.paragraphs[0].text = "第一段。"
    cell.add_paragraph("第二段。")
    d.tables[0].cell(0, 0).text = "说明"
    d.save(tmp_path / "cells.docx")
    assert read_one(tmp_path / "cells.docx").text == "说明\n第一段。\n第二段。"


@pytest.mark.parametrize("name, data, reason", [
    ("truncated.docx", make_docx()[:2000], "not a DOCX file"),
    ("old.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "old Word .doc"),
    ("empty.docx", b"", "0 bytes"),
])
def test_bad_docx_is_a_failure_naming_the_fix(tmp_path, name, data, reason):
    (tmp_path / name).write_bytes(data)
    fail = read_one(tmp_path / name)
    assert isinstance(fail, ReadFailure) and reason in fail.reason, fail
    assert fail.source == str(tmp_path / name)


def test_docx_with_a_damaged_part(tmp_path):
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(make_docx()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for name in src.namelist():
            data = src.read(name)
            out.writestr(name, data[:len(data) // 2] if name == "word/document.xml" else data)
    (tmp_path / "damaged.docx").write_bytes(buf.getvalue())
    fail = read_one(tmp_path / "damaged.docx")
    assert isinstance(fail, ReadFailure) and "damaged DOCX" in fail.reason and "save it" in fail.reason


# -- PDF -----------------------------------------------------------------------------------

PAGE_1 = ["洪江市民政局发放临时救助资金3.5万元。", "城乡低保标准分别达到每人每月620元、496元。"]
PAGE_2 = "保障困难群众1,234人。"
PAGE_3 = "北京市民政局發放臨時救助資金。"


def make_pdf(pages=((("STSong-Light", PAGE_1), ("STSong-Light", [PAGE_2]), ("MSung-Light", [PAGE_3]))),
             encrypt=None) -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, encrypt=encrypt)
    for font, lines in pages:
        c.setFont(font, 12)
        for i, line in enumerate(lines):
            c.drawString(72, 760 - 20 * i, line)
        c.showPage()
    c.save()
    return buf.getvalue()


def test_pdf_text_layer_in_chinese_page_by_page(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(make_pdf())
    doc = read_one(path)
    assert isinstance(doc, Doc), doc
    assert doc.text == "\n".join(PAGE_1) + "\n\n" + PAGE_2 + "\n\n" + PAGE_3
    assert doc.meta.extra == {"file": str(path), "format": "pdf", "pages": 3}


def test_pdf_wrapped_paragraph_is_one_line(tmp_path):
    style = ParagraphStyle("zh", fontName="STSong-Light", fontSize=12, leading=18, wordWrap="CJK")
    para = ("今年以来,在市委、市政府的正确领导下,市民政局坚持以人民为中心,保障城乡最低生活对象5719户、"
            "10833人,城乡低保标准分别达到每人每月620元、496元,发放临时救助资金共计3.5万元,全面完成年度目标任务。")
    SimpleDocTemplate(str(tmp_path / "wrapped.pdf")).build(
        [Paragraph("一、2020年工作情况", style), Paragraph(para, style), Paragraph("二、存在的主要问题", style)])
    doc = read_one(tmp_path / "wrapped.pdf")
    assert doc.text == "\n".join(["一、2020年工作情况", para, "二、存在的主要问题"])


def test_pdf_failures(tmp_path):
    blank = io.BytesIO()
    c = canvas.Canvas(blank)
    c.rect(72, 72, 200, 200)  # a page with a drawing and no text, like a scan
    c.showPage()
    c.save()
    (tmp_path / "scanned.pdf").write_bytes(blank.getvalue())
    (tmp_path / "locked.pdf").write_bytes(make_pdf(encrypt=pdfencrypt.StandardEncryption("user", "owner")))
    (tmp_path / "cut.pdf").write_bytes(make_pdf()[:600])
    (tmp_path / "notes.pdf").write_text("这不是PDF,是改了扩展名的文本。", encoding="utf-8")
    (tmp_path / "zero.pdf").write_bytes(b"")
    docs, fails = split(list(read_inputs([str(tmp_path / "*.pdf")])))
    assert not docs
    reasons = {f.source.rsplit("/", 1)[-1]: f.reason for f in fails}
    assert reasons["scanned.pdf"].startswith("no text layer; OCR it first")
    assert "encrypted with a password" in reasons["locked.pdf"] and "qpdf" in reasons["locked.pdf"]
    assert "damaged PDF" in reasons["cut.pdf"]
    assert "not a PDF" in reasons["notes.pdf"]
    assert "0 bytes" in reasons["zero.pdf"]


def test_pdf_encrypted_only_against_copying_is_read(tmp_path):
    # official PDFs often carry an owner password and an empty user password
    (tmp_path / "restricted.pdf").write_bytes(
        make_pdf(encrypt=pdfencrypt.StandardEncryption("", "owner", canCopy=0, canPrint=0)))
    assert read_one(tmp_path / "restricted.pdf").text.startswith(PAGE_1[0])


# -- a folder of everything ------------------------------------------------------------------

def test_folder_mixing_all_types(tmp_path):
    (tmp_path / "a.txt").write_text("重庆市低保", encoding="utf-8")
    (tmp_path / "b.md").write_text("# 特困供养", encoding="utf-8")
    (tmp_path / "c.html").write_bytes(gov_page().encode("gb18030"))
    (tmp_path / "d.docx").write_bytes(make_docx())
    sub = tmp_path / "2021"
    sub.mkdir()
    (sub / "e.pdf").write_bytes(make_pdf())
    (sub / "f.jsonl").write_text(json.dumps({"id": "g", "text": "临时救助"}, ensure_ascii=False) + "\n",
                                 encoding="utf-8")
    (tmp_path / "corrupt.docx").write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    (tmp_path / "fake.pdf").write_bytes(b"<html>not a pdf</html>")
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 100)
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff")  # not a report format: not listed
    docs, fails = split(list(read_inputs([str(tmp_path)])))
    formats = {d.id: d.meta.extra["format"] for d in docs}
    assert formats == {"a": "text", "b": "markdown", "c": "html", "d": "docx", "2021/e": "pdf", "g": "jsonl"}
    reasons = {f.source.rsplit("/", 1)[-1]: f.reason for f in fails}
    assert sorted(reasons) == ["corrupt.docx", "fake.pdf", "old.doc"]
    assert "not a DOCX file" in reasons["corrupt.docx"] and "save it again" in reasons["corrupt.docx"]
    assert "not a PDF" in reasons["fake.pdf"]
    assert "save it as .docx" in reasons["old.doc"]
    assert all(d.text and not d.problems() for d in docs)


def test_single_files_and_globs_use_the_same_readers(tmp_path):
    (tmp_path / "r.docx").write_bytes(make_docx())
    (tmp_path / "r.pdf").write_bytes(make_pdf())
    (tmp_path / "r.htm").write_bytes(gov_page().encode("gb18030"))
    by_glob = {d.meta.extra["format"]: d.text for d in read_inputs([str(tmp_path / "r.*")])}
    by_file = {d.meta.extra["format"]: d.text
               for d in read_inputs([str(tmp_path / n) for n in ("r.docx", "r.pdf", "r.htm")])}
    assert by_glob == by_file and set(by_file) == {"docx", "pdf", "html"}
