import io
import json
import sys

from minzheng_ie.core.readers import ReadFailure, decode_bytes, read_inputs
from minzheng_ie.core.record import Doc

TEXT = "洪江市民政局发放臨時救助金3.5万元。\r\n第二行"


def split(results):
    docs = [r for r in results if isinstance(r, Doc)]
    fails = [r for r in results if isinstance(r, ReadFailure)]
    return docs, fails


def test_encodings_are_detected_and_text_is_unchanged(tmp_path):
    simplified = "洪江市民政局发放临时救助资金共计3.5万元,保障困难群众1,234人。\r\n第二行"
    traditional = "北京市民政局發放臨時救助資金共計3.5萬元,保障困難群眾1,234人。\r\n第二行"
    cases = {
        "utf8.txt": simplified.encode("utf-8"),
        "bom.txt": b"\xef\xbb\xbf" + simplified.encode("utf-8"),
        "gbk.txt": simplified.encode("gb18030"),
        "big5.txt": traditional.encode("big5"),
        "utf16.txt": simplified.encode("utf-16"),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    docs, fails = split(list(read_inputs([str(tmp_path)])))
    assert not fails
    by_id = {d.id: d for d in docs}
    for name in cases:
        expected = traditional if name.startswith("big5") else simplified
        assert by_id[name[:-4]].text == expected, name  # \r\n kept: offsets refer to the file as it is


def test_bad_files_are_reported_and_do_not_stop_the_batch(tmp_path):
    (tmp_path / "good.txt").write_text("重庆市低保", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("  \n", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02PK\x03\x04" * 50)
    (tmp_path / "garbage.txt").write_bytes(bytes(range(128, 256)) * 4)
    docs, fails = split(list(read_inputs([str(tmp_path), str(tmp_path / "missing.txt")])))
    assert [d.id for d in docs] == ["good"]
    reasons = {f.source.rsplit("/", 1)[-1]: f.reason for f in fails}
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "garbage.txt" in reasons and "UTF-8" in reasons["garbage.txt"]
    assert "no such file" in reasons["missing.txt"]


def test_jsonl_inputs_and_globs(tmp_path):
    lines = [json.dumps({"id": "a", "text": "低保"}, ensure_ascii=False), "{broken",
             json.dumps({"text": "特困"}, ensure_ascii=False), json.dumps({"title": "no text"})]
    (tmp_path / "batch.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "x.md").write_text("临时救助", encoding="utf-8")
    docs, fails = split(list(read_inputs([str(tmp_path / "*.jsonl"), str(tmp_path / "*.md")])))
    assert [(d.id, d.text) for d in docs] == [("a", "低保"), ("batch:3", "特困"), ("x", "临时救助")]
    assert [f.source.rsplit("/", 1)[-1] for f in fails] == ["batch.jsonl:2", "batch.jsonl:4"]
    _, fails = split(list(read_inputs([str(tmp_path / "*.pdf")])))
    assert "matches no files" in fails[0].reason


def test_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("低保标准".encode("gb18030"))))
    docs, _ = split(list(read_inputs(["-"])))
    assert docs[0].text == "低保标准" and docs[0].id == "stdin"


def test_same_name_twice_gets_distinct_ids(tmp_path):
    (tmp_path / "a.txt").write_text("一", encoding="utf-8")
    (tmp_path / "a.md").write_text("二", encoding="utf-8")
    docs, _ = split(list(read_inputs([str(tmp_path)])))
    assert sorted(d.id for d in docs) == ["a", "a~2"]


def test_decode_bytes_names_the_encoding():
    assert decode_bytes("低保".encode("utf-8"))[1] == "utf-8"
    assert decode_bytes("低保标准每人每月".encode("gb18030"))[1] == "gb18030"


REPORT = "洪江市民政局全年支出城乡低保资金2551.35万元,保障低保对象5719户10833人。" * 4  # 136 characters, 372 bytes


def test_utf8_with_a_few_bad_bytes_is_read_with_replacement_characters(tmp_path):
    data = REPORT.encode("utf-8")
    cut = data.index("低保".encode("utf-8"))
    # one stray byte and one character cut after its first byte: 1 + 1 = 2 bad bytes of 372 (0.5%)
    (tmp_path / "scraped.txt").write_bytes(data[:cut] + b"\xff" + data[cut:cut + 1] + data[cut + 3:])
    docs, fails = split(list(read_inputs([str(tmp_path / "scraped.txt")])))
    assert not fails and docs[0].meta.extra["replaced_bytes"] == 2
    assert docs[0].text.count("\ufffd") == 2 and docs[0].text.replace("\ufffd", "", 2).startswith("洪江市民政局全年支出城乡保")


def test_mostly_undecodable_text_is_still_rejected(tmp_path):
    data = bytearray(REPORT.encode("utf-8"))
    for i in range(0, len(data), 60):  # 7 bad bytes of 372: 1.9%, over the 1% rule
        data[i] = 0xFF
    (tmp_path / "damaged.txt").write_bytes(bytes(data))
    docs, fails = split(list(read_inputs([str(tmp_path / "damaged.txt")])))
    assert not docs and "over the 1%" in fails[0].reason


def test_jsonl_read_in_pieces_gives_what_one_piece_gives(tmp_path):
    from minzheng_ie.core.readers import Unit, plan_inputs, read_unit

    lines = []
    for i in range(30):
        lines.append(json.dumps({"id": "dup" if i % 7 == 0 else None, "text": f"第{i}份：低保资金{i}万元"},
                                ensure_ascii=False))
        lines += ["{broken"] if i % 5 == 0 else ["   "] if i % 6 == 0 else []
    (tmp_path / "b.jsonl").write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8") + b'{"text": "\xff"}\n')

    def read(piece_bytes):
        units = list(plan_inputs([str(tmp_path / "b.jsonl")], piece_bytes=piece_bytes))
        return units, [r for u in units for r in read_unit(u)]

    (one,), whole = read(1 << 20)
    units, pieces = read(100)
    assert len(units) > 10 and all(isinstance(u, Unit) for u in units)
    assert [(type(r), getattr(r, "id", None), getattr(r, "text", None), getattr(r, "source", None)) for r in pieces] \
        == [(type(r), getattr(r, "id", None), getattr(r, "text", None), getattr(r, "source", None)) for r in whole]
    docs, fails = split(whole)
    assert len(docs) == 30 and len(one.ids) == 30 and docs[7].id == "dup~2" and docs[1].id == "b:3"
    assert fails[-1].source.endswith("b.jsonl:41") and "UTF-8" in fails[-1].reason


def test_an_unreadable_file_keeps_its_id(tmp_path):
    (tmp_path / "a.md").write_bytes(b"\x00\x01binary")
    (tmp_path / "a.txt").write_text("二", encoding="utf-8")
    docs, fails = split(list(read_inputs([str(tmp_path)])))
    # a.md is planned first and keeps `a` though it cannot be read, so a.txt is a~2 on every run
    assert [d.id for d in docs] == ["a~2"] and len(fails) == 1
