"""Files as real senders make them (issue 22, items 2, 4 and 5), each through the real pipeline into the test
warehouse: a csv in Big5, forms with no header row or a name that is almost a form's, and the files an
operating system or office suite leaves beside the forms. 锡林郭勒盟 (152500) sends them, a month each."""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

import psycopg
import pytest

import hostile_drops as hd
from halfsky.ingest.reading.gb18030_plausibility import tally
from halfsky_dev.sample import catalog
from ingest_helpers import ingest_all

UNIT = "152500"


def _csv_bytes(rows: list[dict], encoding: str) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def _decided(dsn: str, rel: str) -> dict:
    """The drop's status, error rules, raw rows per form, warnings (but late_drop: these periods are long past) and report."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select submission_id, status, reasons, quarantine_path from ingest.submissions where drop_path = %s",
                           (rel,)).fetchone()
        assert row is not None, f"{rel} was never registered"
        submission_id, status, reasons, quarantine = row
        raw = {t: conn.execute(f"select count(*) from raw.{t} where submission_id = %s", (submission_id,)).fetchone()[0]
               for t in ("activity", "funds", "beneficiaries")}
        warned = conn.execute("select rule, value from ingest.drop_findings where submission_id = %s and severity = 'warning' "
                              "and rule <> 'late_drop' order by value", (submission_id,)).fetchall()
    report = json.loads((Path(quarantine) / "report.json").read_text(encoding="utf-8")) if quarantine else None
    return {"id": submission_id, "status": status, "raw": raw, "warned": warned, "report": report,
            "errors": {r["rule"] for r in reasons if r["severity"] == "error"}}


def _details(decided: dict) -> str:
    return " ".join(f["detail"] or "" for f in decided["report"]["findings"])


# -- item 2: text in another legacy encoding ----------------------------------------------------------------

BIG5_TEXT = {"name": "王秀英", "remarks": "母親郵包發放", "counterparty": "呼和浩特市慈善總會"}


def _traditional_doc(period: str) -> dict:
    doc = hd.valid_doc(UNIT, period, counterparty=BIG5_TEXT["counterparty"])
    doc["forms"]["activity"][0]["remarks"] = BIG5_TEXT["remarks"]
    doc["forms"]["beneficiaries"][0]["name"] = BIG5_TEXT["name"]
    return doc


@pytest.mark.parametrize("fmt, period", [("csv", "2025-01"), ("json", "2025-02")])
def test_a_drop_in_big5_is_rejected_as_undecodable_naming_the_file(warehouse, tmp_path, fmt, period):
    root = tmp_path / "landing"
    doc = _traditional_doc(period)
    if fmt == "csv":
        path = hd.write_csv_folder(root, UNIT, period, "big5", {f"{name}.csv": _csv_bytes(rows, "big5")
                                                               for name, rows in doc["forms"].items()})
        named = "activity.csv"  # the first file read, and the remark in it is Big5
    else:
        path = hd.write_json(root, UNIT, period, "big5.json", json.dumps(doc, ensure_ascii=False).encode("big5"))
        named = "big5.json"
    for text in BIG5_TEXT.values():  # the bytes decode as GB18030 without an error: what made them load garbled
        text.encode("big5").decode("gb18030")
    ingest_all(warehouse, root, tmp_path / "quarantine")
    decided = _decided(warehouse, f"{UNIT}/{period}/{path.name}")
    assert (decided["status"], decided["errors"], decided["raw"]) == ("rejected", {"undecodable"},
                                                                      {"activity": 0, "funds": 0, "beneficiaries": 0})
    assert f"{named} read as GB18030 is not plausible Chinese" in _details(decided)
    assert f"{named} 按 GB18030 读出的文字不像中文" in _details(decided)
    assert decided["report"]["findings"][0]["message_zh"].startswith("文件编码无法识别")


# Names as they stand in real records: rarer surname and given-name characters outside GB2312, minority names
# in hanzi with the 间隔号, in Latin letters, in Arabic (Uyghur) and Mongolian script, a hanzi of extension B.
REAL_NAMES = ("张喆", "王堃", "李玥", "陈珺", "刘燊", "赵淼", "阿依古丽·吐尔逊", "其其格", "萨仁高娃", "Aygül Tursun",
              "ئايگۈل تۇرسۇن", "ᠰᠠᠷᠠᠨᠭᠣᠸᠠ", "𠮷野", "欧阳娜仁花")


def _people(period: str) -> list[dict]:
    person = hd.valid_doc(UNIT, period)["forms"]["beneficiaries"][0]
    return [dict(person, name=name, id_number=hd.id_number(f"{UNIT[:4]}0219850315{i:02d}2"))
            for i, name in enumerate(REAL_NAMES)]


@pytest.mark.parametrize("encoding, period", [("gb18030", "2025-03"), ("utf-8", "2025-04"), ("utf-8-sig", "2025-05")])
def test_gb18030_and_utf8_files_with_real_names_stay_accepted_and_load_exactly(warehouse, tmp_path, encoding, period):
    root = tmp_path / "landing"
    doc = hd.valid_doc(UNIT, period)
    doc["forms"]["activity"][0]["remarks"] = "二〇二六年 入户走访 100㎡ 【春蕾】「母亲邮包」①"
    doc["forms"]["beneficiaries"] = _people(period)
    path = hd.write_csv_folder(root, UNIT, period, "names", {f"{name}.csv": _csv_bytes(rows, encoding)
                                                            for name, rows in doc["forms"].items()})
    ingest_all(warehouse, root, tmp_path / "quarantine")
    decided = _decided(warehouse, f"{UNIT}/{period}/{path.name}")
    assert (decided["status"], decided["raw"]) == ("accepted", {"activity": 1, "funds": 1, "beneficiaries": len(REAL_NAMES)})
    with psycopg.connect(warehouse) as conn:
        names = [r[0] for r in conn.execute("select name from raw.beneficiaries where submission_id = %s order by row_number",
                                            (decided["id"],))]
    assert names == list(REAL_NAMES)


def test_the_plausibility_rule_on_both_sides():
    # Every text the sample generator writes, and names alone each with a rare character: plausible.
    texts = [v for v in vars(catalog).values() if isinstance(v, str)]
    texts += [s for v in vars(catalog).values() if isinstance(v, (tuple, list)) for s in v if isinstance(s, str)]
    texts += [s for v in vars(catalog).values() if isinstance(v, dict) for t in v.values() if isinstance(t, tuple)
              for s in t if isinstance(s, str)]
    assert len("".join(texts)) > 1000
    for text in [*texts, "".join(texts), " ".join(REAL_NAMES), "张喆", "王堃,李玥,陈珺", "100㎡"]:
        assert not tally(text).implausible, text
    # Big5 read as GB18030: the three texts, alone and together, and a line list of names.
    names = "李桂蘭,張玉珍,劉麗,陳敏,楊春花,趙海燕,黃雪梅,薩仁高娃,烏雲,阿依古麗,巴特爾,吐爾遜"
    for text in [*BIG5_TEXT.values(), "".join(BIG5_TEXT.values()), names, "姓名,身份證號,受益日期"]:
        found = tally(text.encode("big5").decode("gb18030"))
        assert found.implausible, (text, found)


# -- item 4 (a) and (b): a form with no header row, a name almost a form's --------------------------------


@pytest.mark.parametrize("case, period, where", [
    ("csv_of_0_bytes", "2025-06", "file funds.csv"),
    ("csv_of_a_bom_and_blank_lines", "2025-07", "file funds.csv"),
    ("xlsx_sheet_with_no_cells", "2025-08", "sheet funds"),
])
def test_a_form_with_no_header_row_is_an_error(warehouse, tmp_path, case, period, where):
    root = tmp_path / "landing"
    forms = hd.valid_doc(UNIT, period)["forms"]
    if case.startswith("csv"):
        empty = b"" if case == "csv_of_0_bytes" else b"\xef\xbb\xbf\r\n\r\n"
        path = hd.write_csv_folder(root, UNIT, period, "folder", {"activity.csv": forms["activity"], "funds.csv": empty,
                                                                 "beneficiaries.csv": forms["beneficiaries"]})
    else:
        path = hd.write_xlsx(root, UNIT, period, "book.xlsx", hd.xlsx_bytes({"forms": {**forms, "funds": []}}))
    ingest_all(warehouse, root, tmp_path / "quarantine")
    decided = _decided(warehouse, f"{UNIT}/{period}/{path.name}")
    assert (decided["status"], decided["errors"], sum(decided["raw"].values())) == ("rejected", {"empty_form"}, 0)
    assert f"{where} (funds) is empty, without even a header row" in _details(decided)
    assert decided["report"]["findings"][0]["form"] == "funds"


@pytest.mark.parametrize("kind, name, period, form", [
    ("sheet", "资金收支表", "2025-09", "funds"),
    ("sheet", "资金收支明细", "2025-10", "funds"),
    ("sheet", "activities", "2025-11", "activity"),
    ("csv", "fund.csv", "2025-12", "funds"),
    ("csv", "资金收支表.csv", "2024-01", "funds"),
    ("csv", "funds.txt", "2024-02", "funds"),
    ("csv", "benificiaries.csv", "2024-03", "beneficiaries"),
])
def test_a_sheet_or_file_named_almost_like_a_form_is_an_error_naming_the_form(warehouse, tmp_path, kind, name, period, form):
    root = tmp_path / "landing"
    forms = hd.valid_doc(UNIT, period)["forms"]
    if kind == "sheet":
        path = hd.write_xlsx(root, UNIT, period, "book.xlsx", hd.xlsx_bytes({"forms": forms}, {form: [name]}))
        where = f"sheet {name}"
    else:
        files = {f"{f}.csv": rows for f, rows in forms.items() if f != form}
        path = hd.write_csv_folder(root, UNIT, period, "folder", {**files, name: _csv_bytes(forms[form], "utf-8")})
        where = f"file {name}"
    ingest_all(warehouse, root, tmp_path / "quarantine")
    decided = _decided(warehouse, f"{UNIT}/{period}/{path.name}")
    assert (decided["status"], decided["errors"], sum(decided["raw"].values())) == ("rejected", {"misnamed_form"}, 0)
    zh = {"funds": "资金收支", "activity": "项目活动", "beneficiaries": "受益人明细"}[form]
    assert f"{where} looks like the form {form} ({zh})" in _details(decided)
    assert decided["report"]["findings"][0]["form"] == form


def test_names_that_are_no_form_stay_warnings_and_a_spaced_form_name_is_the_form(warehouse, tmp_path):
    root, period = tmp_path / "landing", "2024-04"
    doc = hd.valid_doc(UNIT, period)
    doc["forms"]["说明"] = [{"说明": "本月无异常"}]
    doc["forms"]["Sheet1"] = [{"a": "1"}]
    path = hd.write_xlsx(root, UNIT, period, "book.xlsx", hd.xlsx_bytes(doc, {"funds": ["Funds "]}))
    ingest_all(warehouse, root, tmp_path / "quarantine")
    decided = _decided(warehouse, f"{UNIT}/{period}/{path.name}")
    assert (decided["status"], decided["raw"]) == ("accepted", {"activity": 1, "funds": 1, "beneficiaries": 1})
    assert decided["warned"] == [("unknown_sheet", "Sheet1"), ("unknown_sheet", "说明")]


@pytest.mark.parametrize("name, period, expected", [
    ("notes.csv", "2024-07", ("rejected", {"unknown_form"})),  # a csv that resembles no form is still no form
    ("说明.txt", "2024-08", ("accepted", set())),  # a file that is no csv and resembles no form: a warning
])
def test_files_that_resemble_no_form_keep_their_old_verdicts(warehouse, tmp_path, name, period, expected):
    root = tmp_path / "landing"
    forms = hd.valid_doc(UNIT, period)["forms"]
    path = hd.write_csv_folder(root, UNIT, period, "folder", {**{f"{f}.csv": rows for f, rows in forms.items()},
                                                             name: "报送说明,无\n".encode()})
    ingest_all(warehouse, root, tmp_path / "quarantine")
    decided = _decided(warehouse, f"{UNIT}/{period}/{path.name}")
    assert (decided["status"], decided["errors"]) == expected
    if expected[0] == "accepted":
        assert decided["warned"] == [("unknown_file", name)]


# -- item 5: what operating systems and office suites leave behind ------------------------------------------

LITTER = {"._activity.csv": b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ", "~$funds.csv": b"\x0cWPS\x00" * 40,
          ".~lock.funds.csv#": b",staff,PC-01,06.12.2026 09:00,file:///C:/Users/staff;\n", ".DS_Store": b"\x00\x00\x00\x01Bud1",
          "Thumbs.db": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "desktop.ini": b"[.ShellClassInfo]\r\nIconResource=x\r\n"}


def test_litter_inside_a_csv_folder_is_ignored_and_named_in_warnings(warehouse, tmp_path):
    root, period = tmp_path / "landing", "2024-05"
    forms = hd.valid_doc(UNIT, period)["forms"]
    path = hd.write_csv_folder(root, UNIT, period, "folder", {**{f"{f}.csv": rows for f, rows in forms.items()}, **LITTER})
    ingest_all(warehouse, root, tmp_path / "quarantine")
    decided = _decided(warehouse, f"{UNIT}/{period}/{path.name}")
    assert (decided["status"], decided["raw"]) == ("accepted", {"activity": 1, "funds": 1, "beneficiaries": 1})
    assert sorted(decided["warned"]) == sorted(("system_file", name) for name in LITTER)


def test_litter_beside_a_drop_is_skipped_with_one_line_in_the_log(warehouse, tmp_path, caplog):
    root, period = tmp_path / "landing", "2024-06"
    real = hd.write_xlsx(root, UNIT, period, "drop.xlsx", hd.xlsx_bytes(hd.valid_doc(UNIT, period)))
    beside = {"._drop.xlsx": b"\x00\x05\x16\x07", "~$drop.xlsx": b"\x0cstaff", ".DS_Store": b"\x00\x00\x00\x01Bud1",
              ".~lock.drop.xlsx#": b"staff", "Thumbs.db": b"\xd0\xcf", "desktop.ini": b"[.ShellClassInfo]"}
    for name, data in beside.items():
        hd.write_xlsx(root, UNIT, period, name, data)
    with caplog.at_level(logging.INFO, logger="halfsky.ingest.reading.landing"):
        ingest_all(warehouse, root, tmp_path / "quarantine")
    with psycopg.connect(warehouse) as conn:
        registered = conn.execute("select drop_name, status from ingest.submissions where prefecture_code = %s and period = %s",
                                  (UNIT, period)).fetchall()
    assert registered == [(real.name, "accepted")]
    lines = [r.getMessage() for r in caplog.records if any(name in r.getMessage() for name in beside)]
    assert len(lines) == 1 and all(name in lines[0] for name in beside), lines
