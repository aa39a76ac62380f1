"""Every hostile or broken input of issue 10 as one catalogue: how to build it, the verdict it must get
(status and rule) and what else to look at; and ``run_case``, which puts one case through the pipeline.

``tests/test_hostile_catalogue.py`` asserts each verdict against the test warehouse;
``bench/hostile_table.py`` runs the same cases against a throw-away database and prints the README's table.
Cases already in ``test_hostile_drops.POISON`` are referenced from there, not rebuilt.

A case's ``build(root, unit, period)`` writes the drop into the landing root and returns the drop's path as
the pipeline prints it (``unit/period/name``, odd bytes escaped). ``run_case`` then runs the nightly ingest
once (timed), reads the verdict, runs the case's own check, and sends the unit's next valid drop and a drop
of another unit to be sure nothing else was harmed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Callable

import psycopg

import hostile_drops as hd
from ingest_helpers import ingest_all
from test_hostile_drops import POISON

# 巴彦淖尔市 and 兴安盟 send the cases (a month each), 乌兰察布市 a valid drop beside each: no other test uses them.
UNITS, OTHER_UNIT = ("150800", "152200"), "150900"
MONTHS = 57  # 2022-01 … 2026-09: the months before the tests' as-of (2026-10-21)
REJECTED, ACCEPTED, IGNORED = "rejected", "accepted", "ignored"
SECRET = "TOP-SECRET-OUTSIDE-THE-ROOT"


@dataclass
class Outcome:
    """What the pipeline made of one case, and where to look."""

    case: "Case"
    dsn: str
    root: str
    quarantine: Path
    rel: str
    seconds: float
    status: str | None = None  # of the case's drop in ingest.submissions (None: never registered)
    errors: set[str] = field(default_factory=set)
    warnings: set[str] = field(default_factory=set)
    submission_id: int | None = None
    report_dir: Path | None = None
    raw_rows: int = 0  # rows of the case's drop in raw, all forms
    pending: list[str] = field(default_factory=list)  # drops of the unit and period left undecided
    next_status: str | None = None  # the unit's next valid drop, sent after
    next_raw_rows: int = 0
    other_status: str | None = None  # another unit's drop, sent beside it
    check_error: str | None = None

    def report(self, name: str = "report.html") -> str:
        return (self.report_dir / name).read_text(encoding="utf-8-sig")

    @property
    def verdict(self) -> str:
        if self.status is None:
            return IGNORED
        rules = self.errors if self.status == REJECTED else self.warnings
        return f"{self.status}, {', '.join(sorted(rules))}" if rules else self.status


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[str, str, str], str]
    status: str  # rejected, accepted (the drop's own status before a newer one supersedes it) or ignored
    rule: str | None  # rejected: its one error rule; accepted: a warning it must carry (or None)
    check: Callable[[Outcome], None] | None = None
    landing: str = "local"  # "memory": an object store, whose keys may hold what a disk cannot (a/../b)
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""  # for the table: what the check looked at
    slow: bool = False  # minutes, not seconds: bench/hostile_table.py runs it; pytest with HALFSKY_SLOW_HOSTILE=1
    budget: float = 60  # seconds the test allows it on a CI machine
    checker: bool = False  # test_hostile_drops also puts it through ``python -m halfsky.validate``: the same verdict

    @property
    def expected(self) -> str:
        if self.status == IGNORED:
            return IGNORED
        return f"{self.status}, {self.rule}" if self.rule else self.status


# ---------------------------------------------------------------------------------------------- builders


def _rel(path: Path, unit: str, period: str) -> str:
    return f"{unit}/{period}/{path.name}"


def _json_drop(name: str, change: Callable[[dict], None] | None = None, text: Callable[[str], str] | None = None):
    """A valid JSON drop with one thing changed in its forms (``change``) or in its text (``text``)."""
    def build(root, unit, period):
        doc = hd.valid_doc(unit, period)
        if change:
            change(doc["forms"])
        body = json.dumps(doc, ensure_ascii=False)
        if text:
            body = text(body)
        return _rel(hd.write_json(Path(root), unit, period, name, body), unit, period)
    return build


def _set(form: str, field_name: str, value):
    def change(forms):
        forms[form][0][field_name] = value
    return change


def _number_literal(field_name: str, literal: str, form: str = "funds"):
    """A field's value as a bare JSON literal (NaN, 1e400, 5,000 digits…), not a string."""
    marker = f"@@{field_name}@@"
    return _json_drop(f"a_{field_name}.json", _set(form, field_name, marker), lambda t: t.replace(f'"{marker}"', literal))


def _poison(kind: str):
    build = POISON[kind][0]
    return lambda root, unit, period: _rel(build(Path(root), unit, period), unit, period)


def _xlsx(name: str, make: Callable[[dict], bytes]):
    return lambda root, unit, period: _rel(hd.write_xlsx(Path(root), unit, period, name, make(hd.valid_doc(unit, period))),
                                           unit, period)


def _csv_folder(name: str, files: Callable[[str, str], dict[str, bytes | list[dict]]]):
    return lambda root, unit, period: _rel(hd.write_csv_folder(Path(root), unit, period, name, files(unit, period)), unit, period)


def _csv_text(rows: list[dict], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def _raw_name(unit: bytes | None, period: bytes | None, name: bytes):
    """A valid drop at names given as bytes: any of them odd."""
    def build(root, u, p):
        data = json.dumps(hd.valid_doc(u, p)).encode()
        return hd.write_raw(Path(root), unit or u.encode(), period or p.encode(), name, data)
    return build


def _memory_key(template: str):
    """A valid drop stored under an object-store key such as ``{unit}/{period}/../evil.json``: an object store
    keeps ``..`` as a name, where a disk cannot. Returns the drop's path: the key's first three names, escaped."""
    def build(root, unit, period):
        import fsspec

        from halfsky.contract.untrusted_text import printable_name

        key = template.format(unit=unit, period=period)
        fs, base = fsspec.core.url_to_fs(root)
        _put(fs, f"{base}/{key}", json.dumps(hd.valid_doc(unit, period)).encode(), hd.ARRIVED)
        return "/".join(printable_name(part) for part in key.split("/")[:3])
    return build


def _put(fs, path: str, data: bytes, when) -> None:
    """An object in the in-memory store, uploaded at ``when``."""
    fs.pipe(path, data)
    fs.store[path].created = fs.store[path].modified = when


def _outside(root: str) -> Path:
    """A folder beside the landing root with a secret in it."""
    target = Path(root).parent / "outside"
    (target / "tree").mkdir(parents=True, exist_ok=True)
    (target / "secret.json").write_text(json.dumps({"secret": SECRET}))
    (target / "tree" / "activity.csv").write_text(SECRET)
    return target


def _link(name: str, target: Callable[[Path], Path | str], is_dir: bool = False):
    def build(root, unit, period):
        folder = Path(root) / unit / period
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to(target(_outside(root)), target_is_directory=is_dir)
        hd.arrived(folder / name)
        return f"{unit}/{period}/{name}"
    return build


def _link_inside_folder(root, unit, period):
    outside = _outside(root)
    activity = hd.valid_doc(unit, period)["forms"]["activity"]
    inner = hd.write_csv_folder(Path(root), unit, period, "a_folder", {"activity.csv": activity})
    (inner / "funds.csv").symlink_to(outside / "secret.json")
    hd.arrived(inner)
    return _rel(inner, unit, period)


def _linked_period_folder(root, unit, period):
    """The whole period folder is a link to a tree outside the root (with a drop in it)."""
    outside = _outside(root)
    (outside / "drops").mkdir(exist_ok=True)
    (outside / "drops" / "a.json").write_text(json.dumps(hd.valid_doc(unit, period)))
    (Path(root) / unit).mkdir(parents=True, exist_ok=True)
    link = Path(root) / unit / f"{period}-link"
    link.symlink_to(outside / "drops", target_is_directory=True)
    return f"{unit}/{period}-link/a.json"


def _sparse_file(name: str, size: int):
    """A file of ``size`` bytes that takes no disk (a hole): it must be refused by its size, unread."""
    def build(root, unit, period):
        path = hd.place(Path(root), unit, period, name)
        with open(path, "wb") as fh:
            fh.truncate(size)
        return _rel(hd.arrived(path), unit, period)
    return build


def _one_line_csv(size: int):
    def build(root, unit, period):
        folder = hd.place(Path(root), unit, period, "a_line")
        folder.mkdir()
        with open(folder / "activity.csv", "wb") as fh:
            for _ in range(size >> 20):
                fh.write(b"A" * (1 << 20))
        hd.arrived(folder / "activity.csv")
        return _rel(hd.arrived(folder), unit, period)
    return build


def _wide_csv(columns: int):
    def files(unit, period):
        row = hd.valid_doc(unit, period)["forms"]["activity"][0]
        header = ",".join([*row, *(f"c{i}" for i in range(columns))])
        values = ",".join([*(str(v) for v in row.values()), *("1" for _ in range(columns))])
        return {"activity.csv": f"{header}\n{values}\n".encode()}
    return files


def _mixed_encodings(unit, period):
    """Header and first row in UTF-8, the second row in GB18030: each line alone is fine, together garbled."""
    row = hd.valid_doc(unit, period)["forms"]["beneficiaries"][0]
    other = dict(row, name="李秀兰", id_number=hd.id_number(unit + "19900101002"))
    head = _csv_text([dict(row, name="王秀")])
    tail = _csv_text([other], "gb18030").split(b"\n", 1)[1]
    return {"beneficiaries.csv": head + tail}


def _tiny_drops(count: int, same_bytes: bool = False):
    """``count`` valid one-row drops of one prefecture and period: a flood. Each different (each is judged and
    loaded; the newest is the one accepted), or one drop's bytes under ``count`` names (the first is accepted,
    the rest are duplicates). Returns the drop that must end accepted."""
    def build(root, unit, period):
        same = json.dumps(hd.valid_doc(unit, period)).encode()
        for i in range(count):
            body = same if same_bytes else json.dumps(hd.valid_doc(unit, period, amount=f"{i + 1}.00")).encode()
            hd.write_json(Path(root), unit, period, f"t{i:05d}.json", body)
        return f"{unit}/{period}/t{0 if same_bytes else count - 1:05d}.json"
    return build


SQL = "'); DROP TABLE raw.funds; --"
SCRIPT = "<script>alert(1)</script>"
HYPERLINK = '=HYPERLINK("http://evil.example/","点击")'
DDE = "=cmd|' /C calc'!A0"


def _sql_header(forms):
    forms["funds"][0][f'amount_yuan"); {SQL}'] = "1"


def _sql_replacing_required(forms):
    forms["funds"][0][f"voucher_no; {SQL}"] = forms["funds"][0].pop("voucher_no")


def _formula_header(forms):
    forms["funds"][0][DDE] = "1"


def _sql_cells(forms):
    forms["funds"][0]["counterparty"] = SQL
    forms["activity"][0]["remarks"] = "1; DELETE FROM ingest.submissions; SELECT pg_sleep(60)"


# ---------------------------------------------------------------------------------------------- checks


def _stored(table: str, column: str, expected):
    def check(o: Outcome):
        with psycopg.connect(o.dsn) as conn:
            values = [r[0] for r in conn.execute(f"select {column} from raw.{table} where submission_id = %s", (o.submission_id,))]
        assert values == [expected], f"raw.{table}.{column} holds {values!r}, not {expected!r}"
    return check


def _html_escapes(o: Outcome):
    page = o.report("report.html").lower()  # a code is shown upper-cased, as it was compared
    assert "&lt;script&gt;" in page and "<script>" not in page, "report.html must show <script> as text"


def _csv_neutralised(o: Outcome):
    cells = [c for row in csv.reader(o.report("report.csv").splitlines()) for c in row]
    shown = [c for c in cells if "HYPERLINK" in c or "cmd|" in c]
    assert shown, "the formula is still shown, as text"
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], "no cell of report.csv may start a formula"


def _both(*checks):
    def check(o: Outcome):
        for c in checks:
            c(o)
    return check


def _tables_intact(o: Outcome):
    with psycopg.connect(o.dsn) as conn:
        assert conn.execute("select to_regclass('raw.funds') is not null").fetchone()[0]
        assert conn.execute("select count(*) from ingest.submissions").fetchone()[0] > 0


def _nothing_outside_read(o: Outcome):
    copied = [p for p in o.quarantine.rglob("*") if p.is_file()]
    assert all(SECRET not in p.read_text(errors="replace") for p in copied), "nothing outside the root was copied"


def _quarantine_inside_its_root(o: Outcome):
    assert o.report_dir is not None and (o.report_dir / "report.json").exists()
    assert o.report_dir.resolve().is_relative_to(o.quarantine.resolve()), f"{o.report_dir} is outside the quarantine"
    assert ".." not in o.report_dir.relative_to(o.quarantine).parts


def _never_registered(o: Outcome):
    with psycopg.connect(o.dsn) as conn:
        rows = conn.execute("select drop_path from ingest.submissions where drop_path like %s",
                            (o.rel.rsplit("/", 1)[0] + "%",)).fetchall()
    assert rows == [], f"a linked folder is never listed: {rows}"
    _nothing_outside_read(o)


def _tiny_drops_decided(count: int, others: str):
    def check(o: Outcome):
        unit, period, _ = o.rel.split("/")
        with psycopg.connect(o.dsn) as conn:
            statuses = dict(conn.execute("select status, count(*) from ingest.submissions where prefecture_code = %s "
                                         "and period = %s group by status", (unit, period)).fetchall())
        assert statuses == {"accepted": 1, others: count - 1}, statuses
    return check


def _names(rule: str, *words: str, form: str | None = None, row: int | None = None, field_name: str | None = None):
    """The report's finding of ``rule`` names the place: every word in its detail or value, and its form, row and field."""
    def check(o: Outcome):
        found = [f for f in json.loads(o.report("report.json"))["findings"] if f["rule"] == rule]
        assert found, f"no {rule} finding"
        f = found[0]
        text = f"{f.get('detail') or ''} {f.get('value') or ''}"
        assert all(w in text for w in words), f"{rule}: {text!r} does not name {words}"
        for key, expected in (("form", form), ("row_number", row), ("field", field_name)):
            assert expected is None or f.get(key) == expected, f"{rule}: {key} is {f.get(key)!r}, not {expected!r}"
    return check


def _three_activity_rows(doc: dict) -> dict:
    """activity with three rows (three groups of one program): a merged range has rows to cover."""
    first = doc["forms"]["activity"][0]
    doc["forms"]["activity"] = [dict(first, beneficiary_group_code=g, events=5)
                                for g in ("LOW_INCOME_WOMEN", "SINGLE_MOTHERS", "DISABLED_WOMEN")]
    return doc


def _three_rows_merged(ref: str):
    return lambda d: hd.merged_xlsx(_three_activity_rows(d), ref)


TINY_DROPS = 10_000

# ---------------------------------------------------------------------------------------------- the catalogue

CASES: list[Case] = [
    # Path traversal and odd bytes in drop, folder and sheet names (.., newlines, non-UTF-8)
    Case("drop name `..` (object-store key `unit/period/../x.json`)", _memory_key("{unit}/{period}/../evil.json"), REJECTED,
         "unsafe_name", _quarantine_inside_its_root, landing="memory", note="reported under an escaped name, inside quarantine"),
    Case("period folder `..` (key `unit/../period/x.json`)", _memory_key("{unit}/../{period}/evil.json"), REJECTED,
         "malformed_period", _quarantine_inside_its_root, landing="memory"),
    Case("prefecture folder `..` (key `../unit/period/x.json`)", _memory_key("../{unit}/{period}/evil.json"), REJECTED,
         "malformed_period", _quarantine_inside_its_root, landing="memory", note="its path reads `\\x2e\\x2e/unit/period`"),
    Case("drop name `..\\..\\evil.json` (Windows traversal)", _raw_name(None, None, b"..\\..\\evil.json"), REJECTED, "unsafe_name"),
    Case("drop name with a newline", _raw_name(None, None, b"a\nb.json"), REJECTED, "unsafe_name"),
    Case("drop name not UTF-8 (`0_\\xff.json`)", _raw_name(None, None, b"0_\xff.json"), REJECTED, "unsafe_name"),
    Case("period folder name with a newline", lambda r, u, p: _raw_name(None, p.encode() + b"\n", b"x.json")(r, u, p),
         REJECTED, "malformed_period"),
    Case("prefecture folder name not UTF-8", _raw_name(b"15\xff800", None, b"x.json"), REJECTED, "unknown_prefecture"),
    Case("csv file name inside a folder not UTF-8", _csv_folder("a_folder", lambda u, p: {
        "activity.csv": hd.valid_doc(u, p)["forms"]["activity"], b"\xff.csv".decode("utf-8", "surrogateescape"): b"x\n"}),
         REJECTED, "unsafe_name"),
    Case("csv file name inside a folder `..\\activity.csv`", _csv_folder("a_folder", lambda u, p: {
        "..\\activity.csv": hd.valid_doc(u, p)["forms"]["activity"]}), REJECTED, "unsafe_name"),
    Case("sheet name `../../etc/passwd`", _xlsx("a.xlsx", lambda d: hd.xlsx_with_sheet_named(d, b"../../etc/passwd")),
         ACCEPTED, "unknown_sheet", note="a stray sheet is a warning that names it"),
    Case("sheet name with a newline", _xlsx("a.xlsx", lambda d: hd.xlsx_with_sheet_named(d, b"a&#10;b")), ACCEPTED, "unknown_sheet"),
    Case("sheet name `<script>` (escaped in report.html)", _xlsx("a.xlsx", lambda d: hd.xlsx_with_sheet_named(
        d, b"&lt;script&gt;alert(1)&lt;/script&gt;")), ACCEPTED, "unknown_sheet", _html_escapes),
    Case("sheet name not UTF-8", _xlsx("a.xlsx", lambda d: hd.xlsx_with_sheet_named(d, b"a\xffb")), REJECTED, "unreadable"),
    # Symlinks pointing outside the landing root
    Case("symlink drop to a file outside the root", _link("a.json", lambda o: o / "secret.json"), REJECTED, "not_a_regular_file",
         _nothing_outside_read),
    Case("symlink drop to a folder outside the root", _link("a_tree", lambda o: o / "tree", is_dir=True), REJECTED,
         "not_a_regular_file", _nothing_outside_read),
    Case("symlink drop to /dev/zero", _link("a.json", lambda o: "/dev/zero"), REJECTED, "not_a_regular_file"),
    Case("symlink inside a folder drop", _link_inside_folder, REJECTED, "not_a_regular_file", _nothing_outside_read),
    Case("period folder that is a symlink outside the root", _linked_period_folder, IGNORED, None, _never_registered,
         note="not a landing folder: logged, never listed or read"),
    # A zip-bomb xlsx and XML entity expansion inside one
    Case("zip bomb xlsx (7 KB → 210 MB, sizes declared honestly)", _xlsx("a.xlsx", lambda d: hd.zip_bomb_xlsx(d, 210 << 20)),
         REJECTED, "expands_too_large"),
    Case("zip bomb xlsx whose zip headers lie about sizes", _poison("zip_size_header_lies"), REJECTED, "zip_size_mismatch"),
    Case("xlsx with one cell at XFD1048576 (a 17-billion-cell grid)", _xlsx("a.xlsx", hd.far_cell_xlsx), REJECTED,
         "expands_too_large"),
    Case("xlsx with XML entity expansion (billion laughs)", _poison("billion_laughs_xlsx"), REJECTED, "xml_entity_expansion"),
    Case("xlsx with an external XML entity (XXE)", _poison("xxe_xlsx"), REJECTED, "xml_external_entity"),
    # A file over the size limit
    Case("file over the size limit (201 MB)", _sparse_file("a.json", 201 << 20), REJECTED, "too_large"),
    # A csv with NUL bytes, a single 100 MB line, or a million columns
    Case("csv with a NUL byte", _poison("csv_nul_in_text"), REJECTED, "nul_byte"),
    Case("csv that is a single 100 MB line", _one_line_csv(100 << 20), REJECTED, "cell_too_large"),
    Case("csv cell over 128 KiB", _poison("csv_field_over_128k"), REJECTED, "cell_too_large"),
    Case("csv with a million columns", _csv_folder("a_wide", _wide_csv(1_000_000)), REJECTED, "too_many_columns"),
    # Mixed encodings in one file
    Case("csv mixing UTF-8 and GB18030 lines", _csv_folder("a_mixed", _mixed_encodings), REJECTED, "undecodable",
         note="each line decodes; together they would load garbled names"),
    # Headers that are SQL
    Case("header that is SQL (an extra column)", _json_drop("a.json", _sql_header), ACCEPTED, "unknown_column", _tables_intact),
    Case("header that is SQL (in place of a required column)", _json_drop("a.json", _sql_replacing_required), REJECTED,
         "missing_column", _tables_intact),
    Case("header that is a formula (`=cmd|…`)", _json_drop("a.json", _formula_header), ACCEPTED, "unknown_column",
         _csv_neutralised, note="report.csv shows it with a leading '"),
    # Cells that are SQL, HTML/script or spreadsheet formulas
    Case("cells that are SQL", _json_drop("a.json", _sql_cells), ACCEPTED, None,
         _both(_tables_intact, _stored("funds", "counterparty", SQL)), note="stored verbatim, as data"),
    Case("cell `<script>` in a remark", _json_drop("a.json", _set("activity", "remarks", SCRIPT)), ACCEPTED, None,
         _stored("activity", "remarks", SCRIPT)),
    Case("cell `<script>` that fails its rule (escaped in report.html)",
         _json_drop("a.json", _set("activity", "program_code", SCRIPT)), REJECTED, "code_list", _html_escapes),
    Case("cell `=HYPERLINK(…)` (neutralised in report.csv)", _json_drop("a.json", _set("activity", "program_code", HYPERLINK)),
         REJECTED, "code_list", _csv_neutralised),
    Case("cell `=cmd|' /C calc'!A0` (neutralised in report.csv)", _json_drop("a.json", _set("funds", "amount_yuan", DDE)),
         REJECTED, "type", _csv_neutralised),
    Case("cell `=HYPERLINK(…)` in a remark", _json_drop("a.json", _set("activity", "remarks", HYPERLINK)), ACCEPTED, None,
         _stored("activity", "remarks", HYPERLINK), note="stored verbatim; only reports are spreadsheets"),
    # NaN, Infinity, 1e400, 20-digit amounts, 2026-02-30
    Case("amount NaN (JSON)", _number_literal("amount_yuan", "NaN"), REJECTED, "type"),
    Case("optional count NaN (JSON; was loaded as 0)", _number_literal("events", "NaN", "activity"), REJECTED, "type"),
    Case("amount Infinity (JSON)", _number_literal("amount_yuan", "Infinity"), REJECTED, "type"),
    Case("amount 1e400 (JSON number)", _number_literal("amount_yuan", "1e400"), REJECTED, "out_of_range"),
    Case("amount `1e400` (csv text)", _csv_folder("a_folder", lambda u, p: {
        "funds.csv": [dict(hd.valid_doc(u, p)["forms"]["funds"][0], amount_yuan="1e400")]}), REJECTED, "type"),
    Case("amount 1e3 (JSON number; was a type error)", _number_literal("amount_yuan", "1e3"), ACCEPTED, None,
         _stored("funds", "amount_yuan", Decimal("1000.00"))),
    Case("amount of 20 digits", _poison("amount_20_digits"), REJECTED, "out_of_range"),
    Case("count of 20 digits", _poison("count_20_digits"), REJECTED, "out_of_range"),
    Case("count of 5,000 digits (JSON number; was internal_error)", _number_literal("events", "9" * 5000, "activity"),
         REJECTED, "out_of_range"),
    Case("amount 9999999999999999.99 (the largest)", _json_drop("a.json", _set("funds", "amount_yuan", "9999999999999999.99")),
         ACCEPTED, None, _stored("funds", "amount_yuan", Decimal("9999999999999999.99")), note="stored exactly"),
    Case("date 2026-02-30", _json_drop("a.json", _set("funds", "txn_date", "2026-02-30")), REJECTED, "type"),
    Case("xlsx cell NaN", _xlsx("a.xlsx", lambda d: hd.xlsx_cell(d, "D2", "<v>NaN</v>")), REJECTED, "type"),
    # An xlsx with external links or macros
    Case("xlsx with an external link", _xlsx("a.xlsx", hd.external_link_xlsx), ACCEPTED, None,
         _stored("activity", "beneficiaries", 40), note="the value Excel cached is read; the link is never followed"),
    Case("xlsx with macros (an .xlsm renamed)", _xlsx("a.xlsx", hd.macro_xlsx), REJECTED, "unknown_format"),
    # JSON nested 100,000 deep or with duplicate keys
    Case("JSON nested 100,000 deep", _poison("json_nested_100000_deep"), REJECTED, "json_too_deep"),
    Case("JSON with a form key twice", _json_drop("a.json", text=lambda t: t.replace('"funds":', '"funds": [], "funds":')),
         REJECTED, "json_duplicate_key", note="was: the last one silently won"),
    Case("JSON with a field key twice in a row", _json_drop("a.json", text=lambda t: t.replace(
        '"amount_yuan": "70000.00"', '"amount_yuan": "1.00", "amount_yuan": "70000.00"')), REJECTED, "json_duplicate_key"),
    Case("JSON with a lone surrogate", _poison("json_lone_surrogate"), REJECTED, "invalid_unicode"),
    Case("JSON with a NUL in a text cell", _poison("json_nul_in_text"), REJECTED, "nul_byte"),
    # An empty file
    Case("empty JSON file", _json_drop("a.json", text=lambda t: ""), REJECTED, "unreadable"),
    Case("empty xlsx file", _xlsx("a.xlsx", lambda d: b""), REJECTED, "unreadable"),
    Case("empty csv file in a folder", _csv_folder("a_folder", lambda u, p: {"activity.csv": b""}), REJECTED, "empty_form",
         note="issue 22: a form with no header row is an error of its own (was no_forms)"),
    # 10,000 tiny drops in one prefecture-period
    Case(f"{TINY_DROPS:,} tiny drops in one prefecture-period, one drop's bytes under each name",
         _tiny_drops(TINY_DROPS, same_bytes=True), ACCEPTED, None, _tiny_drops_decided(TINY_DROPS, "duplicate"),
         budget=180, note="the first accepted, the others duplicates"),
    Case("300 tiny drops in one prefecture-period, each different", _tiny_drops(300), ACCEPTED, None,
         _tiny_drops_decided(300, "superseded"), note="each judged and loaded; the newest accepted"),
    Case(f"{TINY_DROPS:,} tiny drops in one prefecture-period, each different", _tiny_drops(TINY_DROPS), ACCEPTED, None,
         _tiny_drops_decided(TINY_DROPS, "superseded"), slow=True, note="each judged and loaded; the newest accepted"),
    # Issue 22.1: thousands separators out of place changed amounts by orders of magnitude
    Case("amount `1 234,50` (JSON; was loaded as 123,450.00)", _json_drop("a.json", _set("funds", "amount_yuan", "1 234,50")),
         REJECTED, "type", _names("type", "1 234,50", form="funds", row=1, field_name="amount_yuan"), checker=True),
    Case("count `12,34万` (csv; was 123,400)", _csv_folder("a_folder", lambda u, p: {
        "activity.csv": [dict(hd.valid_doc(u, p)["forms"]["activity"][0], beneficiaries="12,34万")]}), REJECTED, "type",
         _names("type", "12,34万", form="activity", row=2, field_name="beneficiaries"), checker=True),
    Case("amount `１，７７８，０００` (full-width, grouped by thousands)", _json_drop("a.json", _set("funds", "amount_yuan", "１，７７８，０００")),
         ACCEPTED, None, _stored("funds", "amount_yuan", Decimal("1778000.00")), checker=True),
    Case("amount `1,234.5万` in an xlsx", _xlsx("a.xlsx", lambda d: hd.xlsx_cells(d, {"E2": ('t="inlineStr"', "<is><t>1,234.5万</t></is>")}, sheet=2)),
         ACCEPTED, None, _stored("funds", "amount_yuan", Decimal("12345000.00")), checker=True),
    # Issue 22.3: formulas no program computed (openpyxl writes <f> and no <v>) were loaded as 0
    Case("xlsx formulas with no computed value in optional counts", _xlsx("a.xlsx", lambda d: hd.xlsx_cells(
        d, {"D2": "<f>1+1</f>", "F2": "<f>2*3</f><v/>"})), REJECTED, "formula_not_computed",
         _names("formula_not_computed", "activity", "D2", "F2", "events", "volunteers", form="activity"), checker=True),
    Case("xlsx formula with no computed value in a required count", _xlsx("a.xlsx", lambda d: hd.xlsx_cells(
        d, {"E2": "<f>SUM(40)</f><v></v>"})), REJECTED, "formula_not_computed", _names("formula_not_computed", "E2", "beneficiaries"), checker=True),
    Case("xlsx shared formula whose copies have no computed value", _xlsx("a.xlsx", lambda d: hd.xlsx_cells(
        d, {"D2": '<f t="shared" ref="D2:F2" si="0">1+1</f><v>2</v>', "F2": '<f t="shared" si="0"/>'})), REJECTED,
         "formula_not_computed", _names("formula_not_computed", "F2"), checker=True),
    Case("xlsx formulas Excel computed (a number, and an empty text)", _xlsx("a.xlsx", lambda d: hd.xlsx_cells(
        d, {"E2": "<f>20*2</f><v>40</v>", "G2": ('t="str"', '<f>IF(1,"","x")</f><v></v>')})), ACCEPTED, None,
         _stored("activity", "beneficiaries", 40), note="the value Excel saved is read", checker=True),
    # Issue 22.11: workbooks read otherwise than the sender sees them
    Case("xlsx with the activity sheet hidden", _xlsx("a.xlsx", lambda d: hd.xlsx_sheet_state(d, "activity", "hidden")),
         REJECTED, "hidden_sheet", _names("hidden_sheet", "activity", form="activity"), checker=True),
    Case("xlsx with the funds sheet (资金收支) very hidden", _xlsx("a.xlsx", lambda d: hd.xlsx_sheet_state(
        d, "资金收支", "veryHidden", {"funds": ["资金收支"]})), REJECTED, "hidden_sheet", _names("hidden_sheet", "资金收支"), checker=True),
    Case("xlsx with a hidden sheet that is no form", _xlsx("a.xlsx", lambda d: hd.xlsx_sheet_state(
        {**d, "forms": {**d["forms"], "notes": [{"note": "x"}]}}, "notes", "hidden")), ACCEPTED, "unknown_sheet", checker=True),
    Case("xlsx with optional events merged over three rows (was 5, 0, 0)", _xlsx("a.xlsx", _three_rows_merged("D2:D4")),
         REJECTED, "merged_cells", _names("merged_cells", "activity", "D2:D4", form="activity"), checker=True),
    Case("xlsx with a required region_code merged over three rows (was `required`)", _xlsx("a.xlsx", _three_rows_merged("A2:A4")),
         REJECTED, "merged_cells", _names("merged_cells", "A2:A4"), checker=True),
    Case("xlsx with two header cells merged", _xlsx("a.xlsx", lambda d: hd.merged_xlsx(d, "G1:H1")), REJECTED, "merged_cells",
         _names("merged_cells", "G1:H1"), checker=True),
    Case("xlsx with a row of activity hidden (loaded unseen)", _xlsx("a.xlsx", lambda d: hd.xlsx_hidden(_three_activity_rows(d), rows=(3,))),
         REJECTED, "hidden_cells", _names("hidden_cells", "activity", "row 3", form="activity"), checker=True),
    Case("xlsx with the volunteers column hidden", _xlsx("a.xlsx", lambda d: hd.xlsx_hidden(d, columns=(6,))), REJECTED,
         "hidden_cells", _names("hidden_cells", "F (volunteers)"), checker=True),
]


def place_of(case: Case) -> tuple[str, str]:
    """Each case has a unit and month of its own (the warehouse is shared): 150800 2022-01 onwards."""
    i = CASES.index(case)
    unit, month = UNITS[i // MONTHS], i % MONTHS
    return unit, f"{2022 + month // 12}-{month % 12 + 1:02d}"


# ---------------------------------------------------------------------------------------------- running one


@contextmanager
def _environment(values: dict[str, str]):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _landing(case: Case, base: Path) -> str:
    if case.landing == "memory":
        return f"memory://halfsky-hostile-{uuid.uuid4().hex[:12]}/landing"
    return str(base / "landing")


def _write(root: str, unit: str, period: str, name: str, doc: dict, when) -> None:
    if root.startswith("memory://"):
        import fsspec

        fs, base = fsspec.core.url_to_fs(root)
        _put(fs, f"{base}/{unit}/{period}/{name}", json.dumps(doc).encode(), when)
        return
    hd.arrived(hd.write_json(Path(root), unit, period, name, doc), when)


def _submission(conn, rel: str):
    return conn.execute("select submission_id, status, reasons, quarantine_path from ingest.submissions where drop_path = %s",
                        (rel,)).fetchone()


def _raw_rows(conn, submission_id: int) -> int:
    from halfsky.contract.forms import FORMS

    return sum(conn.execute(f"select count(*) from raw.{name} where submission_id = %s", (submission_id,)).fetchone()[0]
               for name in FORMS)


def run_case(case: Case, dsn: str, base: Path) -> Outcome:
    """Build the case, run the nightly ingest over it (timed), read the verdict and check it; then send
    the unit's next valid drop. Never raises for the case's own failure: the Outcome says what happened."""
    unit, period = place_of(case)
    root, quarantine = _landing(case, base), base / "quarantine"
    try:
        with _environment(case.env):
            rel = case.build(root, unit, period)
            _write(root, OTHER_UNIT, period, f"valid_{unit}.json", hd.valid_doc(OTHER_UNIT, period, counterparty=unit), hd.ARRIVED)
            started = time.perf_counter()
            ingest_all(dsn, root, quarantine)
            outcome = Outcome(case, dsn, root, quarantine, rel, time.perf_counter() - started)
            _read_verdict(outcome, unit, period)
            if case.check:
                try:
                    case.check(outcome)
                except AssertionError as exc:
                    outcome.check_error = str(exc) or "check failed"
            # The unit's next drop, sent the day after: it loads, whatever came before it.
            _write(root, unit, period, "zz_next_valid.json", hd.valid_doc(unit, period), hd.ARRIVED + timedelta(days=1))
            ingest_all(dsn, root, quarantine)
            with psycopg.connect(dsn) as conn:
                nxt = _submission(conn, f"{unit}/{period}/zz_next_valid.json")
                outcome.next_status = nxt[1] if nxt else None
                outcome.next_raw_rows = _raw_rows(conn, nxt[0]) if nxt else 0
                outcome.pending = [r[0] for r in conn.execute(
                    "select drop_path from ingest.submissions where status = 'pending' and period = %s", (period,))]
            return outcome
    finally:
        if root.startswith("memory://"):
            import fsspec

            fs, path = fsspec.core.url_to_fs(root)
            fs.rm(path.rsplit("/", 1)[0], recursive=True)


def _read_verdict(o: Outcome, unit: str, period: str) -> None:
    from halfsky.ingest.quarantine import quarantine_dir

    with psycopg.connect(o.dsn) as conn:
        row = _submission(conn, o.rel)
        other = _submission(conn, f"{OTHER_UNIT}/{period}/valid_{unit}.json")
        o.other_status = other[1] if other else None
        if row is None:
            return
        o.submission_id, o.status, reasons, qpath = row
        o.errors = {r["rule"] for r in reasons or [] if r["severity"] == "error"}
        o.warnings = {r["rule"] for r in reasons or [] if r["severity"] != "error"}
        o.raw_rows = _raw_rows(conn, o.submission_id)
    folder = Path(qpath) if qpath else Path(quarantine_dir(str(o.quarantine), *o.rel.split("/")[:2], o.submission_id))
    o.report_dir = folder if (folder / "report.json").exists() else None


def problems(o: Outcome) -> list[str]:
    """What is wrong with an outcome, against its case: empty when the case holds."""
    case, found = o.case, []
    if case.status == IGNORED:
        if o.status is not None:
            found.append(f"registered as {o.status}")
    elif o.status != case.status:
        found.append(f"status {o.status}, expected {case.status} ({o.verdict})")
    elif case.status == REJECTED:
        if o.errors != {case.rule}:
            found.append(f"rules {sorted(o.errors)}, expected [{case.rule}]")
        if o.raw_rows:
            found.append(f"{o.raw_rows} rows of a rejected drop reached raw")
        if o.report_dir is None:
            found.append("no report")
        elif case.rule not in {f["rule"] for f in json.loads(o.report("report.json"))["findings"]}:
            found.append("the report does not name the rule")
    else:  # accepted
        if o.errors:
            found.append(f"errors {sorted(o.errors)}")
        if case.rule and case.rule not in o.warnings:
            found.append(f"warnings {sorted(o.warnings)}, expected {case.rule}")
    if o.check_error:
        found.append(o.check_error)
    if o.next_status != ACCEPTED or o.next_raw_rows != 3:
        found.append(f"the unit's next valid drop is {o.next_status} with {o.next_raw_rows} raw rows")
    if o.other_status != ACCEPTED:
        found.append(f"another unit's drop is {o.other_status}")
    if o.pending:
        found.append(f"left pending: {o.pending[:3]}")
    return found
