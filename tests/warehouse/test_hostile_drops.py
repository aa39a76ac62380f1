"""Hostile and unlucky drops, as a real landing zone gets them: each is rejected with its own rule
and a report, by the pipeline and by ``python -m halfsky.validate`` alike, and nothing else is harmed."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

import hostile_drops as hd
from ingest_helpers import AS_OF, ingest_all

UNIT = "150100"  # 呼和浩特市; each case below has a period of its own in the shared warehouse


@contextmanager
def deadline(seconds: int):
    """A hang (reading /dev/zero, say) fails the test instead of the suite."""
    def _expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _statuses(dsn: str, prefix: str) -> dict[str, tuple[str, set[str], str | None]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("select drop_path, status, reasons, quarantine_path from ingest.submissions where drop_path like %s",
                            (prefix + "%",)).fetchall()
    return {r[0]: (r[1], {x["rule"] for x in r[2] if x["severity"] == "error"}, r[3]) for r in rows}


def _raw_rows(dsn: str, drop_path: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {t: conn.execute(f"select count(*) from raw.{t} join ingest.submissions using (submission_id) where drop_path = %s",
                                (drop_path,)).fetchone()[0] for t in ("activity", "funds", "beneficiaries")}


def _long_csv_field(root, unit, period):
    rows = hd.valid_doc(unit, period)["forms"]["activity"]
    rows[0]["remarks"] = "长" * 140_000
    return hd.write_csv_folder(root, unit, period, "a_poison", {"activity.csv": rows})


def _nul_in_csv(root, unit, period):
    rows = hd.valid_doc(unit, period)["forms"]["activity"]
    rows[0]["remarks"] = "母亲\x00邮包"
    return hd.write_csv_folder(root, unit, period, "a_poison", {"activity.csv": rows})


def _json_text(unit, period, change) -> str:
    doc = hd.valid_doc(unit, period)
    change(doc["forms"])
    return json.dumps(doc, ensure_ascii=True)


def _set(form, field, value):
    def change(forms):
        forms[form][0][field] = value
    return change


POISON = {
    # kind: (builder(root, unit, period) -> path, the rule it must be rejected for)
    "billion_laughs_xlsx": (lambda r, u, p: hd.write_xlsx(r, u, p, "a_poison.xlsx", hd.billion_laughs_xlsx(hd.valid_doc(u, p))),
                            "xml_entity_expansion"),
    "xxe_xlsx": (lambda r, u, p: hd.write_xlsx(r, u, p, "a_poison.xlsx", hd.xxe_xlsx(hd.valid_doc(u, p))), "xml_external_entity"),
    "zip_size_header_lies": (lambda r, u, p: hd.write_xlsx(r, u, p, "a_poison.xlsx", hd.lying_size_xlsx(hd.valid_doc(u, p))),
                             "zip_size_mismatch"),
    "csv_field_over_128k": (_long_csv_field, "cell_too_large"),
    "json_nested_100000_deep": (lambda r, u, p: hd.write_json(r, u, p, "a_poison.json", hd.nested_json(u, p)), "json_too_deep"),
    "json_lone_surrogate": (lambda r, u, p: hd.write_json(r, u, p, "a_poison.json", _json_text(u, p, _set("beneficiaries", "name", "\ud800"))),
                            "invalid_unicode"),
    "json_nul_in_text": (lambda r, u, p: hd.write_json(r, u, p, "a_poison.json", _json_text(u, p, _set("activity", "remarks", "a\x00b"))),
                         "nul_byte"),
    "csv_nul_in_text": (_nul_in_csv, "nul_byte"),
    "nul_in_failing_cell": (lambda r, u, p: hd.write_json(r, u, p, "a_poison.json", _json_text(u, p, _set("funds", "amount_yuan", "12\x00x"))),
                            "nul_byte"),
    "amount_20_digits": (lambda r, u, p: hd.write_json(r, u, p, "a_poison.json", _json_text(u, p, _set("funds", "amount_yuan", "1" * 20))),
                         "out_of_range"),
    "count_20_digits": (lambda r, u, p: hd.write_json(r, u, p, "a_poison.json", _json_text(u, p, _set("activity", "beneficiaries", "9" * 20))),
                        "out_of_range"),
}


@pytest.mark.parametrize("kind", sorted(POISON))
def test_a_poison_drop_is_rejected_with_its_own_rule_and_the_units_next_drop_loads(warehouse, tmp_path, kind):
    period = f"2024-{sorted(POISON).index(kind) + 1:02d}"
    root, quarantine = tmp_path / "landing", tmp_path / "quarantine"
    build, rule = POISON[kind]
    poison = build(root, UNIT, period)
    valid = hd.write_json(root, UNIT, period, "b_valid.json", hd.valid_doc(UNIT, period))
    with deadline(120):
        ingest_all(warehouse, root, quarantine)
    statuses = _statuses(warehouse, f"{UNIT}/{period}/")
    poison_rel, valid_rel = f"{UNIT}/{period}/{poison.name}", f"{UNIT}/{period}/{valid.name}"
    assert statuses[poison_rel][:2] == ("rejected", {rule})
    assert statuses[valid_rel][0] == "accepted", "the unit's next drop is not held up"
    assert _raw_rows(warehouse, valid_rel) == {"activity": 1, "funds": 1, "beneficiaries": 1}
    report = json.loads((Path(statuses[poison_rel][2]) / "report.json").read_text(encoding="utf-8"))
    assert report["status"] == "rejected" and rule in {f["rule"] for f in report["findings"]}
    # The check a prefecture runs before sending gives the same verdict, without a traceback.
    from halfsky.validate import main as validate

    with deadline(120):
        code = validate([str(poison), "--as-of", AS_OF.isoformat(), "--report-dir", str(tmp_path / "checked")])
    assert code == 1
    checked = json.loads((tmp_path / "checked" / "report.json").read_text(encoding="utf-8"))
    assert {f["rule"] for f in checked["findings"] if f["severity"] == "error"} == {rule}


def test_an_unexpected_error_rejects_that_drop_only_with_the_exception_in_its_report(warehouse, tmp_path, monkeypatch):
    from halfsky.ingest.judging import judge
    root, period = tmp_path / "landing", "2023-02"
    hd.write_json(root, UNIT, period, "a_breaks.json", hd.valid_doc(UNIT, period, counterparty="触发内部错误"))
    hd.write_json(root, UNIT, period, "b_valid.json", hd.valid_doc(UNIT, period))
    real = judge.type_rows

    def flaky(table, first_row_number):
        if any("触发内部错误" in str(c) for row in table.rows for c in row):
            raise KeyError("a bug in halfsky")
        return real(table, first_row_number)

    monkeypatch.setattr(judge, "type_rows", flaky)
    ingest_all(warehouse, root, tmp_path / "quarantine")
    statuses = _statuses(warehouse, f"{UNIT}/{period}/")
    assert statuses[f"{UNIT}/{period}/a_breaks.json"][:2] == ("rejected", {"internal_error"})
    assert statuses[f"{UNIT}/{period}/b_valid.json"][0] == "accepted"
    report = json.loads((Path(statuses[f"{UNIT}/{period}/a_breaks.json"][2]) / "report.json").read_text(encoding="utf-8"))
    assert "KeyError" in report["findings"][0]["detail"] and "a bug in halfsky" in report["findings"][0]["detail"]


def test_a_non_utf8_drop_name_is_rejected_by_name_and_every_other_drop_proceeds(warehouse, tmp_path):
    root, period = tmp_path / "landing", "2023-03"
    folder = root / "360900" / period
    folder.mkdir(parents=True)
    with open(os.fsencode(folder) + b"/0_\xff.json", "wb") as fh:
        fh.write(json.dumps(hd.valid_doc("360900", period)).encode())
    os.utime(os.fsencode(folder) + b"/0_\xff.json", (hd.ARRIVED.timestamp(),) * 2)
    hd.write_json(root, "360900", period, "1_valid.json", hd.valid_doc("360900", period))
    hd.write_json(root, UNIT, period, "valid.json", hd.valid_doc(UNIT, period))
    odd_unit = os.fsencode(root) + b"/36\xff900/" + period.encode()  # the folder names themselves are not UTF-8 either
    os.makedirs(odd_unit)
    with open(odd_unit + b"/x.json", "wb") as fh:
        fh.write(b"{}")
    os.utime(odd_unit + b"/x.json", (hd.ARRIVED.timestamp(),) * 2)
    run = ingest_all(warehouse, root, tmp_path / "quarantine")
    json.dumps(run["work"]).encode("utf-8")  # what discover_drops hands Airflow must be plain UTF-8
    statuses = _statuses(warehouse, "")
    bad = statuses[f"360900/{period}/0_\\xff.json"]
    assert bad[:2] == ("rejected", {"unsafe_name"})
    assert statuses[f"360900/{period}/1_valid.json"][0] == "accepted"
    assert statuses[f"{UNIT}/{period}/valid.json"][0] == "accepted"
    assert statuses[f"36\\xff900/{period}/x.json"][:2] == ("rejected", {"unknown_prefecture"})
    quarantined = list((Path(bad[2]) / "drop").iterdir())
    assert [p.read_bytes() for p in quarantined] == [json.dumps(hd.valid_doc("360900", period)).encode()], "the bytes are kept"
    report = json.loads((Path(bad[2]) / "report.json").read_text(encoding="utf-8"))
    assert report["drop"] == "0_\\xff.json" and report["findings"][0]["rule"] == "unsafe_name"


def test_more_than_1024_unknown_prefecture_folders_are_one_batch_and_known_units_still_load(warehouse, tmp_path):
    from halfsky.ingest.batches import MAX_BATCHES

    root, period = tmp_path / "landing", "2023-04"
    for code in range(800000, 801100):
        hd.write_json(root, str(code), period, "x.json", "{}")
    hd.write_json(root, UNIT, period, "valid.json", hd.valid_doc(UNIT, period))
    run = ingest_all(warehouse, root, tmp_path / "quarantine")
    assert len(run["work"]) <= MAX_BATCHES < 1024
    assert len(run["work"]) == 2, "one batch for the known unit, one for every unknown folder"
    statuses = _statuses(warehouse, "80")
    assert len(statuses) == 1100 and all(s[:2] == ("rejected", {"unknown_prefecture"}) for s in statuses.values())
    assert _statuses(warehouse, f"{UNIT}/{period}/")[f"{UNIT}/{period}/valid.json"][0] == "accepted"


def test_batches_stay_bounded_whatever_the_landing_tree_holds():
    from halfsky.ingest.batches import MAX_BATCHES, batch_by_unit

    paths = [f"{code}/2026-09/x.json" for code in range(100000, 103000)]
    known = {str(c) for c in range(100000, 103000)}
    # Small units share batches whatever their number; units big enough for a task each still stop at MAX_BATCHES.
    for sizes in (None, {p: 50 << 20 for p in paths}):
        batches = batch_by_unit(paths + [f"9{i:05d}/2026-09/x.json" for i in range(1100)], known, sizes=sizes, slots=4)
        assert len(batches) <= MAX_BATCHES < 1024
        assert batches[-1]["label"] == "unknown" and len(batches[-1]["paths"]) == 1100, "unknown folders together"
        assert sorted(p for b in batches[:-1] for p in b["paths"]) == sorted(paths)
    assert len(batches) > MAX_BATCHES // 2, "units worth a task each get many tasks, up to the bound"


def test_identical_bytes_in_another_prefecture_are_not_a_duplicate(warehouse, tmp_path):
    root, period = tmp_path / "landing", "2023-05"
    workbook = hd.xlsx_bytes(hd.valid_doc("654000", period))
    hd.write_xlsx(root, "152900", period, "a_copy.xlsx", workbook)  # 阿拉善盟 holds a copy of Ili's workbook
    hd.write_xlsx(root, "654000", period, "report.xlsx", workbook)
    for unit in ("150200", "150300", "150400"):
        hd.write_json(root, unit, period, "empty.json", b"")
    ingest_all(warehouse, root, tmp_path / "quarantine")
    statuses = _statuses(warehouse, "")
    assert statuses[f"654000/{period}/report.xlsx"][0] == "accepted"
    assert _raw_rows(warehouse, f"654000/{period}/report.xlsx")["funds"] == 1
    assert statuses[f"152900/{period}/a_copy.xlsx"][:2] == ("rejected", {"region_outside_prefecture"})
    for unit in ("150200", "150300", "150400"):
        status, rules, qpath = statuses[f"{unit}/{period}/empty.json"]
        assert (status, rules) == ("rejected", {"unreadable"}) and (Path(qpath) / "report.html").exists()


def test_a_resend_of_the_same_bytes_in_the_same_period_is_still_a_duplicate(warehouse, tmp_path):
    root, period = tmp_path / "landing", "2023-06"
    data = json.dumps(hd.valid_doc(UNIT, period)).encode()
    hd.write_json(root, UNIT, period, "a.json", data)
    hd.write_json(root, UNIT, period, "b_again.json", data)
    ingest_all(warehouse, root, tmp_path / "quarantine")
    statuses = _statuses(warehouse, f"{UNIT}/{period}/")
    assert (statuses[f"{UNIT}/{period}/a.json"][0], statuses[f"{UNIT}/{period}/b_again.json"][0]) == ("accepted", "duplicate")


@pytest.fixture
def outside(tmp_path):
    """Things outside the landing root that a link might point at."""
    target = tmp_path / "outside"
    (target / "tree").mkdir(parents=True)
    (target / "secret.json").write_text(json.dumps(hd.valid_doc(UNIT, "2023-07")))
    (target / "tree" / "activity.csv").write_text("secret")
    return target


def test_links_devices_and_fifos_are_rejected_without_being_read(warehouse, tmp_path, outside):
    root, period = tmp_path / "landing", "2023-07"
    folder = root / UNIT / period
    folder.mkdir(parents=True)
    (folder / "a_passwd.json").symlink_to(outside / "secret.json")
    (folder / "b_zero.json").symlink_to("/dev/zero")
    (folder / "c_tree").symlink_to(outside / "tree", target_is_directory=True)
    os.mkfifo(folder / "d_fifo.json")
    inner = hd.write_csv_folder(root, UNIT, period, "e_folder", {"activity.csv": hd.valid_doc(UNIT, period)["forms"]["activity"]})
    (inner / "funds.csv").symlink_to(outside / "secret.json")
    hd.write_json(root, UNIT, period, "f_valid.json", hd.valid_doc(UNIT, period))
    for entry in folder.iterdir():
        hd.arrived(entry)
    quarantine = tmp_path / "quarantine"
    with deadline(60):
        ingest_all(warehouse, root, quarantine)
    statuses = _statuses(warehouse, f"{UNIT}/{period}/")
    for name in ("a_passwd.json", "b_zero.json", "c_tree", "d_fifo.json", "e_folder"):
        assert statuses[f"{UNIT}/{period}/{name}"][:2] == ("rejected", {"not_a_regular_file"}), name
    assert statuses[f"{UNIT}/{period}/f_valid.json"][0] == "accepted"
    copied = [p for p in quarantine.rglob("*") if p.is_file() and "/drop/" in str(p)]
    assert all("secret" not in p.read_text(errors="replace") for p in copied), "nothing outside the root is copied"
    assert {p.name for p in copied} == {"activity.csv"}, "the folder's own regular files are kept"
    from halfsky.ingest.replay import replay

    with psycopg.connect(warehouse) as conn:
        (link_id,), = conn.execute("select submission_id from ingest.submissions where drop_path = %s",
                                   (f"{UNIT}/{period}/a_passwd.json",)).fetchall()
    with pytest.raises(ValueError, match="send it again"):
        replay(warehouse, link_id, as_of=AS_OF)


def test_validate_refuses_a_link_and_writes_its_report_inside_the_tree(tmp_path, outside):
    from halfsky.validate import main as validate

    folder = tmp_path / UNIT / "2023-07"
    folder.mkdir(parents=True)
    link = folder / "report.json"
    link.symlink_to(outside / "secret.json")
    assert validate([str(link), "--as-of", AS_OF.isoformat()]) == 1
    assert not (outside / "secret.json.report").exists()
    report = json.loads((folder / "report.json.report" / "report.json").read_text(encoding="utf-8"))
    assert {f["rule"] for f in report["findings"]} == {"not_a_regular_file"}
    # A link deep inside a folder drop: validate refuses it as the pipeline's listing does.
    nested = folder / "folder_drop" / "sub"
    nested.mkdir(parents=True)
    (nested / "funds.csv").symlink_to(outside / "secret.json")
    assert validate([str(folder / "folder_drop"), "--as-of", AS_OF.isoformat(), "--report-dir", str(tmp_path / "r2")]) == 1
    report = json.loads((tmp_path / "r2" / "report.json").read_text(encoding="utf-8"))
    assert {f["rule"] for f in report["findings"]} == {"not_a_regular_file"}


def test_hashing_is_bounded_by_the_size_limit(warehouse, tmp_path, monkeypatch):
    root, period = tmp_path / "landing", "2023-08"
    hd.write_json(root, UNIT, period, "big.json", b" " * 50_000)
    monkeypatch.setenv("HALFSKY_MAX_DROP_BYTES", "10000")
    ingest_all(warehouse, root, tmp_path / "quarantine")
    with psycopg.connect(warehouse) as conn:
        status, sha, reasons = conn.execute("select status, sha256, reasons from ingest.submissions where drop_path = %s",
                                            (f"{UNIT}/{period}/big.json",)).fetchone()
    assert (status, sha, [r["rule"] for r in reasons]) == ("rejected", None, ["too_large"])


def _two_sources(root, unit, period):
    doc = hd.valid_doc(unit, period)
    doc["forms"]["项目活动"] = doc["forms"]["activity"]
    return hd.write_json(root, unit, period, "two.json", doc)


@pytest.mark.parametrize("case, period, expected", [
    ("json_two_keys_for_one_form", "2023-09", ("rejected", {"duplicate_form"})),
    ("xlsx_two_sheets_for_one_form", "2023-10", ("rejected", {"duplicate_form"})),
    ("csv_chinese_and_capitalised_names", "2023-11", ("accepted", set())),
    ("csv_file_named_almost_like_a_form", "2023-12", ("rejected", {"misnamed_form"})),  # issue 22: names the form
    ("json_key_named_almost_like_a_form", "2022-01", ("rejected", {"misnamed_form"})),
])
def test_no_rows_are_dropped_in_silence(warehouse, tmp_path, case, period, expected):
    root = tmp_path / "landing"
    doc = hd.valid_doc(UNIT, period)
    forms = doc["forms"]
    if case == "json_two_keys_for_one_form":
        path = _two_sources(root, UNIT, period)
    elif case == "xlsx_two_sheets_for_one_form":
        path = hd.write_xlsx(root, UNIT, period, "two.xlsx", hd.xlsx_bytes(doc, {"activity": ["activity", "项目活动"]}))
    elif case == "csv_chinese_and_capitalised_names":
        path = hd.write_csv_folder(root, UNIT, period, "folder", {
            "activity.csv": forms["activity"], "Funds.csv": forms["funds"], "受益人明细.csv": forms["beneficiaries"],
            "说明.txt": "报送说明".encode()})
    elif case == "csv_file_named_almost_like_a_form":
        path = hd.write_csv_folder(root, UNIT, period, "folder", {"activity.csv": forms["activity"], "fund.csv": forms["funds"]})
    else:
        forms["fundz"] = forms.pop("funds")
        path = hd.write_json(root, UNIT, period, "typo.json", doc)
    ingest_all(warehouse, root, tmp_path / "quarantine")
    rel = f"{UNIT}/{period}/{path.name}"
    assert _statuses(warehouse, rel)[rel][:2] == expected
    if expected[0] == "accepted":
        assert _raw_rows(warehouse, rel) == {"activity": 1, "funds": 1, "beneficiaries": 1}
        with psycopg.connect(warehouse) as conn:
            warned = conn.execute("select value from ingest.drop_findings join ingest.submissions using (submission_id) "
                                  "where drop_path = %s and rule = 'unknown_file'", (rel,)).fetchall()
        assert warned == [("说明.txt",)], "a file that is no form is named in a warning"


def test_report_csv_neutralises_formulas(warehouse, tmp_path):
    import csv

    root, period = tmp_path / "landing", "2022-02"
    doc = hd.valid_doc(UNIT, period)
    doc["forms"]["funds"][0]["amount_yuan"] = "=cmd|' /C calc'!A0"
    doc["forms"]["funds"][0]["region_code"] = "+1+CMD|' /C calc'!A0"
    doc["forms"]["activity"][0]["program_code"] = '=HYPERLINK("http://evil.example/","点击")'
    doc["forms"]["activity"][0]["region_code"] = "@SUM(1+1)"
    doc["forms"]["beneficiaries"][0]["program_code"] = "-2+3"
    doc["forms"]["beneficiaries"][0]["benefit_type"] = "\tCASH"
    hd.write_json(root, UNIT, period, "formulas.json", doc)
    ingest_all(warehouse, root, tmp_path / "quarantine")
    rel = f"{UNIT}/{period}/formulas.json"
    qpath = Path(_statuses(warehouse, rel)[rel][2])
    text = (qpath / "report.csv").read_text(encoding="utf-8-sig")
    cells = [c for row in csv.reader(text.splitlines()) for c in row]
    assert any("HYPERLINK" in c for c in cells) and any("cmd|" in c for c in cells), "the values are still shown"
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_quarantine_is_private_to_the_pipelines_account(warehouse, tmp_path):
    root, period = tmp_path / "landing", "2022-03"
    bad = hd.write_csv_folder(root, UNIT, period, "bad", {"activity.csv": b"nonsense\n1\n"})
    (bad / "linked").symlink_to("/etc/ssl", target_is_directory=True)  # a linked tree must not widen anything
    hd.arrived(bad)
    private = tmp_path / "private"  # the admin's own folder above the quarantine keeps the mode they gave it
    private.mkdir()
    private.chmod(0o710)
    quarantine = private / "quarantine"
    ingest_all(warehouse, root, quarantine)
    assert stat.S_IMODE(private.stat().st_mode) == 0o710
    entries = [quarantine, *quarantine.rglob("*")]
    assert len(entries) > 5
    for p in entries:
        mode = stat.S_IMODE(p.lstat().st_mode)
        assert mode == (0o700 if p.is_dir() else 0o600), f"{p}: {oct(mode)}"


def test_warehouse_connect_is_revoked_from_public(warehouse):
    import uuid

    from halfsky.warehouse.analyst_role import ANALYST_ROLE, ensure_analyst_role

    ensure_analyst_role(warehouse)
    stranger = f"halfsky_test_stranger_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute(f"create role {stranger} login")
        try:
            db = conn.info.dbname
            can = dict(conn.execute("select r, has_database_privilege(r, %s, 'CONNECT') from unnest(%s::text[]) r",
                                    (db, [stranger, ANALYST_ROLE])).fetchall())
            temp = conn.execute("select has_database_privilege(%s, %s, 'TEMPORARY')", (stranger, db)).fetchone()[0]
        finally:
            conn.execute(f"drop role {stranger}")
    assert can == {stranger: False, ANALYST_ROLE: True} and temp is False


def _rejection(path: Path):
    from halfsky.ingest.reading.drop import DropRejected
    from halfsky.ingest.reading.drop_reader import read_drop

    with pytest.raises(DropRejected) as raised:
        read_drop(path)
    return raised.value


def _prefixed(xml: str) -> str:
    """The same sheet with every element under a namespace prefix (<x:c>, <x:f>), as some exporters write it."""
    import re

    return re.sub(r"<(/?)(?!\?)([A-Za-z]+)", r"<\1x:\2", xml).replace(
        'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"', 'xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"')


def test_a_formula_with_no_computed_value_is_found_in_any_row_and_any_spelling(tmp_path, monkeypatch):
    """Issue 22.3: far down a sheet read in chunks, and under namespace prefixes, each is named with its field."""
    from halfsky.ingest.reading import xlsx
    monkeypatch.setattr(xlsx, "_SHEET_CHUNK", 300)  # rows of cells fall across many chunks
    doc = hd.valid_doc(UNIT, "2026-09")
    first = doc["forms"]["activity"][0]
    doc["forms"]["activity"] = [dict(first, region_code=f"1501{i:02d}") for i in range(1, 41)]
    far = tmp_path / "far.xlsx"
    far.write_bytes(hd.xlsx_cells(doc, {"F38": "<f>1+1</f>", "E40": '<f t="shared" si="0"/><v></v>'}))
    rejected = _rejection(far)
    assert (rejected.rule, rejected.form, rejected.field) == ("formula_not_computed", "activity", "volunteers")
    assert "F38 (volunteers), E40 (beneficiaries)" in rejected.detail
    prefixed = tmp_path / "prefixed.xlsx"
    prefixed.write_bytes(hd._rewrite_member(hd.xlsx_cells(hd.valid_doc(UNIT, "2026-09"), {"D2": "<f>1+1</f>"}),
                                            "xl/worksheets/sheet1.xml", _prefixed))
    assert "D2 (events)" in _rejection(prefixed).detail


def test_sheets_parsed_ahead_are_refused_in_the_order_they_are_read(tmp_path):
    """calamine parses the form sheets on a thread of its own while each sheet's XML is searched for hidden rows and
    formulas (halfsky.ingest.reading.xlsx._SheetPrefetch): a workbook with faults in two sheets is still refused for
    the first sheet's, and a misnamed sheet after them is not reached."""
    doc = hd.valid_doc(UNIT, "2026-09")
    both = hd._rewrite_member(hd.xlsx_hidden(doc, rows=(2,), sheet=1), "xl/worksheets/sheet2.xml",
                              lambda x: re.sub(r'(<c r="E2")[^>]*?(?:/>|>.*?</c>)', r"\1><f>1+1</f></c>", x, count=1))
    first = tmp_path / "first.xlsx"
    first.write_bytes(both)
    rejected = _rejection(first)
    assert (rejected.rule, rejected.form) == ("hidden_cells", "activity"), rejected.detail
    second = tmp_path / "second.xlsx"  # the first sheet sound: the second's formula is found
    second.write_bytes(hd.xlsx_cells(doc, {"E2": "<f>1+1</f>"}, sheet=2))
    assert (_rejection(second).rule, _rejection(second).form) == ("formula_not_computed", "funds")
    misnamed = tmp_path / "misnamed.xlsx"  # a sheet after the faulty one, named almost like a form: never reached
    misnamed.write_bytes(hd._rewrite_member(both, "xl/workbook.xml", lambda x: x.replace('name="beneficiaries"', 'name="beneficiary"', 1)))
    assert _rejection(misnamed).rule == "hidden_cells"
    # The marks pass fails on a list of sheets Python's XML parser cannot read (calamine can): the first sheet's
    # merged cells are still what the drop is refused for.
    undeclared = tmp_path / "undeclared.xlsx"
    undeclared.write_bytes(hd._rewrite_member(hd.merged_xlsx(doc, "D2:D4"), "xl/workbook.xml",
                                              lambda x: x.replace('encoding="UTF-8"', 'encoding="GBK"', 1)))
    assert _rejection(undeclared).rule == "merged_cells"
    # Two sheets of one name, the second hidden: a second activity, as when read one sheet after the other.
    twice = tmp_path / "twice.xlsx"
    twice.write_bytes(hd._rewrite_member(hd.xlsx_bytes(doc), "xl/workbook.xml",
                                         lambda x: x.replace('<sheet name="funds" ', '<sheet name="activity" state="hidden" ', 1)))
    assert _rejection(twice).rule == "duplicate_form"


def test_a_merged_range_beside_a_form_is_not_in_its_data(tmp_path):
    """Issue 22.11: a note merged to the right of the last named column, or below the last row, is no cell of the form."""
    from halfsky.ingest.reading.drop_reader import read_drop

    path = tmp_path / "beside.xlsx"
    path.write_bytes(hd.merged_xlsx(hd.valid_doc(UNIT, "2026-09"), "I1:J3"))
    assert read_drop(path).forms["activity"].row_count == 1
    path.write_bytes(hd.merged_xlsx(hd.valid_doc(UNIT, "2026-09"), "A5:C6"))
    assert read_drop(path).forms["activity"].row_count == 1


def test_a_hidden_sheet_is_named_before_it_could_be_a_second_form(tmp_path):
    """Issue 22.11: a hidden `activity` beside a visible 项目活动 is the hidden sheet the sender cannot see, not a riddle
    of two forms."""
    path = tmp_path / "hidden.xlsx"
    path.write_bytes(hd.xlsx_sheet_state(hd.valid_doc(UNIT, "2026-09"), "activity", "hidden", {"activity": ["项目活动", "activity"]}))
    rejected = _rejection(path)
    assert (rejected.rule, rejected.form) == ("hidden_sheet", "activity") and "sheet activity is hidden" in rejected.detail


def test_hidden_rows_and_columns_that_hold_nothing_read_are_no_error(tmp_path):
    """Issue 22.11: only what would be loaded unseen is refused; a hidden empty row under the form, or a hidden
    column with no header, is not."""
    from halfsky.ingest.reading.drop_reader import read_drop

    path = tmp_path / "hidden_nothing.xlsx"
    doc = hd.valid_doc(UNIT, "2026-09")
    path.write_bytes(hd.xlsx_hidden(doc, rows=(7,), columns=(9, 10)))
    assert read_drop(path).forms["activity"].row_count == 1
    path.write_bytes(hd.xlsx_hidden(doc, rows=(1,)))
    rejected = _rejection(path)
    assert rejected.rule == "hidden_cells" and "row 1" in rejected.detail
