"""Build a landing tree of drops and the truth about what it holds.

Layout: ``<root>/<prefecture>/<YYYY-MM>/<drop>``, drops rotating through the
three formats. The truth file records, per drop, the status the pipeline must
give it (accepted, rejected with a rule, duplicate, superseded) and, over the
newest valid drop of each prefecture-period, the totals the marts must show.
"""

from __future__ import annotations

import csv
import os
import random
import shutil
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterator

from halfsky import id_numbers
from halfsky.periods import SHANGHAI, deadline, next_period, period_bounds
from halfsky.reference.code_lists import reference_data
from halfsky.reference.divisions import counties_of
from halfsky.sample.content import ReportContent, rng_for
from halfsky.sample.writers import EXTENSIONS, WRITERS, Style, write_csv_folder, write_json, write_xlsx

FORMATS = ("xlsx", "csv", "json")
# Mix Inner Mongolia, Ili and the cities of the seed documents in the first few.
PREFECTURE_ORDER = ("150100", "654000", "150200", "371500", "152500", "330800", "150600", "440500", "360900", "420200", "130900")

ROW_INVALID_KINDS = (
    "required", "type", "min_value", "max_length", "code_list", "region_outside_prefecture",
    "date_outside_period", "duplicate_key", "duplicate_voucher", "id_number_check", "cash_amount_required",
)
FILE_INVALID_KINDS = (
    "unreadable", "undecodable", "unknown_format", "expands_too_large", "unknown_prefecture",
    "inactive_prefecture", "malformed_period", "future_period", "missing_column", "header_mismatch", "no_forms",
)
INVALID_KINDS = FILE_INVALID_KINDS + ROW_INVALID_KINDS


@dataclass
class SlotTally:
    """Totals of one drop as written, keyed for the truth file."""

    funds: dict = field(default_factory=lambda: defaultdict(lambda: [Decimal("0.00"), 0]))
    activity: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0]))
    benefits: dict = field(default_factory=lambda: defaultdict(lambda: [Decimal("0.00"), 0]))
    persons: set = field(default_factory=set)

    def __call__(self, form: str, row: dict) -> None:
        if form == "funds":
            t = self.funds[(row["program_code"], row["flow_type"])]
            t[0] += row["amount_yuan"]
            t[1] += 1
        elif form == "activity":
            t = self.activity[row["program_code"]]
            t[0] += row["events"]
            t[1] += row["beneficiaries"]
            t[2] += row["volunteers"]
            t[3] += 1
        else:
            t = self.benefits[row["program_code"]]
            t[0] += row["amount_yuan"] or 0
            t[1] += 1
            self.persons.add(id_numbers.normalise(row["id_number"]))


@dataclass
class DropRecord:
    path: str  # relative to the landing root
    prefecture_code: str
    period: str
    format: str
    received_at: datetime
    expected_status: str
    expected_rule: str | None = None
    expected_warnings: list[str] = field(default_factory=list)
    tally: SlotTally | None = None

    def as_json(self) -> dict:
        return {
            "path": self.path, "prefecture_code": self.prefecture_code, "period": self.period, "format": self.format,
            "received_at": self.received_at.isoformat(), "expected_status": self.expected_status,
            "expected_rule": self.expected_rule, "expected_warnings": self.expected_warnings,
        }


def periods_from(first: str, months: int) -> list[str]:
    out = [first]
    while len(out) < months:
        out.append(next_period(out[-1]))
    return out


def received(rng: random.Random, period: str, late: bool) -> datetime:
    nxt = next_period(period)
    day = rng.randint(12, 20) if late else rng.randint(1, 9)
    return datetime.combine(date(int(nxt[:4]), int(nxt[5:7]), day), time(rng.randint(8, 18), rng.randint(0, 59)), SHANGHAI)


def set_received(path: Path, when: datetime) -> None:
    """The landing store's timestamp is when the drop arrived; make it so."""
    ts = when.timestamp()
    targets = [path] if path.is_file() else [*path.rglob("*"), path]
    for p in targets:
        os.utime(p, (ts, ts))


class MutatedContent(ReportContent):
    """A report with one deliberate change to one form's rows."""

    def __init__(self, base: ReportContent, form: str, change: Callable[[list[dict]], list[dict]]):
        super().__init__(base.seed, base.prefecture, base.period, base.rows, base.version)
        self._form, self._change = form, change

    def form_rows(self, form: str) -> Iterator[dict]:
        rows = list(super().form_rows(form))
        return iter(self._change(rows) if form == self._form else rows)


def _set(form_field: str, value) -> Callable[[list[dict]], list[dict]]:
    def change(rows: list[dict]) -> list[dict]:
        rows[1] = {**rows[1], form_field: value}
        return rows
    return change


def row_mutation(kind: str, content: ReportContent) -> tuple[str, Callable[[list[dict]], list[dict]]]:
    """The form and the change that makes a drop break only ``kind``."""
    first, _ = period_bounds(content.period)
    other_unit = "654000" if content.prefecture != "654000" else "150100"
    if kind == "required":
        return "activity", _set("beneficiaries", None)
    if kind == "type":
        return "beneficiaries", _set("benefit_date", "2026-02-30")
    if kind == "min_value":
        return "funds", _set("amount_yuan", Decimal("-500.00"))
    if kind == "max_length":
        return "activity", _set("remarks", "巾帼志愿者入户走访" * 60)
    if kind == "code_list":
        return "funds", _set("program_code", "MOTHER_PARCELS")
    if kind == "region_outside_prefecture":
        return "funds", _set("region_code", counties_of(other_unit)[0])
    if kind == "date_outside_period":
        return "funds", _set("txn_date", first - timedelta(days=1))
    if kind == "duplicate_key":
        return "activity", lambda rows: rows + [dict(rows[0], events=1)]
    if kind == "duplicate_voucher":
        return "funds", lambda rows: [rows[0], dict(rows[1], voucher_no=rows[0]["voucher_no"]), *rows[2:]]
    if kind == "id_number_check":
        def bad_check(rows):
            number = rows[1]["id_number"]
            wrong = next(c for c in "0123456789X" if c != number[-1])
            rows[1] = dict(rows[1], id_number=number[:-1] + wrong)
            return rows
        return "beneficiaries", bad_check
    if kind == "cash_amount_required":
        return "beneficiaries", lambda rows: [
            dict(rows[0], program_code="TWO_CANCER_RELIEF", beneficiary_group_code="LOW_INCOME_WOMEN", benefit_type="CASH", amount_yuan=None),
            *rows[1:],
        ]
    raise ValueError(kind)


def duplicate_cash(rows: list[dict]) -> list[dict]:
    """The same woman paid the same relief twice: a warning, not an error."""
    paid = dict(rows[0], program_code="TWO_CANCER_RELIEF", beneficiary_group_code="LOW_INCOME_WOMEN",
                benefit_type="CASH", amount_yuan=Decimal("10000.00"))
    return [paid, dict(paid), *rows[1:]]


def write_zip_bomb(path: Path, expanded_bytes: int) -> None:
    """An xlsx whose one sheet inflates to ``expanded_bytes`` from a few hundred KB."""
    chunk = b"<row/>" * (1 << 16)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            written = 0
            while written < expanded_bytes:
                member.write(chunk)
                written += len(chunk)


class Generator:
    def __init__(self, root: Path, *, prefectures: list[str], periods: list[str], rows: int, dirty: bool,
                 seed: int, as_of: datetime, late_every: int = 4):
        self.root, self.prefectures, self.periods, self.rows, self.dirty = root, prefectures, periods, rows, dirty
        self.seed, self.as_of, self.late_every = seed, as_of, late_every
        self.records: list[DropRecord] = []

    def _write(self, rel: Path, fmt: str, content: ReportContent, when: datetime, rng: random.Random,
               forms=("activity", "funds", "beneficiaries"), status="accepted", rule=None) -> DropRecord:
        valid = status == "accepted"
        tally = SlotTally() if valid else None
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        # Broken drops are written clean, so the one deliberate fault is the only one.
        style = Style.pick(self.dirty, rng) if valid else Style()
        WRITERS[fmt](target, content, forms, style, tally or (lambda form, row: None), rng)
        set_received(target, when)
        warnings = ["late_drop"] if valid and when > deadline(content.period) else []
        record = DropRecord(str(rel), content.prefecture, content.period, fmt, when, status, rule, warnings, tally)
        self.records.append(record)
        return record

    def valid_drops(self, resubmissions: int, duplicates: int, with_warnings: bool) -> None:
        slot = 0
        for prefecture in self.prefectures:
            for period in self.periods:
                rng = rng_for(self.seed, "slot", prefecture, period)
                fmt = FORMATS[slot % len(FORMATS)]
                when = received(rng, period, late=slot % self.late_every == self.late_every - 1)
                content = ReportContent(self.seed, prefecture, period, self.rows)
                if with_warnings and slot == resubmissions:
                    content = MutatedContent(content, "beneficiaries", duplicate_cash)
                rel = Path(prefecture, period, f"{prefecture}_{period}_v1{EXTENSIONS[fmt]}")
                record = self._write(rel, fmt, content, when, rng)
                if with_warnings and slot == resubmissions:
                    record.expected_warnings.append("duplicate_cash_benefit")
                if slot < duplicates:
                    copy = rel.with_name(f"{prefecture}_{period}_v1_copy{EXTENSIONS[fmt]}")
                    copier = shutil.copytree if fmt == "csv" else shutil.copyfile
                    copier(self.root / rel, self.root / copy)
                    set_received(self.root / copy, when + timedelta(hours=1))
                    self.records.append(DropRecord(str(copy), prefecture, period, fmt, when + timedelta(hours=1), "duplicate"))
                if slot < resubmissions:
                    record.expected_status = "superseded"
                    fixed = ReportContent(self.seed, prefecture, period, self.rows, version=2)
                    fmt2 = FORMATS[(slot + 1) % len(FORMATS)]
                    rel2 = Path(prefecture, period, f"{prefecture}_{period}_v2{EXTENSIONS[fmt2]}")
                    self._write(rel2, fmt2, fixed, when + timedelta(days=2), rng)
                slot += 1

    def invalid_drops(self, kinds: list[str]) -> None:
        prefecture, period = self.prefectures[0], self.periods[-1]
        for i, kind in enumerate(kinds):
            rng = rng_for(self.seed, "invalid", kind)
            when = received(rng, period, late=False)
            base = ReportContent(self.seed, prefecture, period, rows=max(4, min(self.rows, 8)), version=100 + i)
            stem = f"{prefecture}_{period}_bad_{kind}"
            if kind in ROW_INVALID_KINDS:
                form, change = row_mutation(kind, base)
                fmt = FORMATS[i % len(FORMATS)]
                self._write(Path(prefecture, period, stem + EXTENSIONS[fmt]), fmt, MutatedContent(base, form, change),
                            when, rng, status="rejected", rule=kind)
            else:
                self._file_invalid(kind, base, stem, when, rng)

    def _file_invalid(self, kind: str, base: ReportContent, stem: str, when: datetime, rng: random.Random) -> None:
        prefecture, period = base.prefecture, base.period
        folder = Path(prefecture, period)
        if kind in ("unknown_prefecture", "inactive_prefecture", "malformed_period", "future_period"):
            if kind == "unknown_prefecture":
                prefecture = "159900"
            elif kind == "inactive_prefecture":
                unit = next(u for u in reference_data().units.values() if u.active_from > "2022-06")
                prefecture, period = unit.prefecture_code, "2022-06"
            elif kind == "malformed_period":
                period = period[:4] + "-13"
            else:
                period = next_period(f"{self.as_of.astimezone(SHANGHAI):%Y-%m}")
            rel = Path(prefecture, period, f"{prefecture}_{period}_bad_{kind}.json")
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            write_json(self.root / rel, base, ("activity",), Style(), lambda f, r: None, rng)
            self._record(rel, prefecture, period, "json", when, kind)
            return
        target = self.root / folder / stem
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "unreadable":
            target = target.with_suffix(".xlsx")
            target.write_bytes(b"PK\x03\x04" + bytes(rng.randrange(256) for _ in range(2048)))
            fmt = "xlsx"
        elif kind == "undecodable":
            write_csv_folder(target, base, ("activity",), Style(), lambda f, r: None, rng)
            with (target / "activity.csv").open("ab") as fh:
                fh.write(b"\xff\xfe\xff\x80\x81\xff\n")  # no encoding we accept reads this
            fmt = "csv"
        elif kind == "unknown_format":
            target = target.with_suffix(".docx")
            target.write_bytes("二〇二六年工作总结".encode("utf-8"))
            fmt = "docx"
        elif kind == "expands_too_large":
            target = target.with_suffix(".xlsx")
            write_zip_bomb(target, expanded_bytes=210 * 1024 * 1024)
            fmt = "xlsx"
        elif kind == "missing_column":
            write_csv_folder(target, base, ("funds",), Style(), lambda f, r: None, rng)
            path = target / "funds.csv"
            with path.open(encoding="utf-8", newline="") as fh:
                table = list(csv.reader(fh))
            gone = table[0].index("amount_yuan")
            with path.open("w", encoding="utf-8", newline="") as fh:
                csv.writer(fh).writerows([c for j, c in enumerate(row) if j != gone] for row in table)
            fmt = "csv"
        elif kind == "header_mismatch":
            target = target.with_suffix(".json")
            other = ReportContent(self.seed, "150200" if prefecture != "150200" else "150100", period, 3)
            write_json(target, other, ("activity",), Style(), lambda f, r: None, rng)
            fmt = "json"
        elif kind == "no_forms":
            target = target.with_suffix(".xlsx")
            import xlsxwriter

            wb = xlsxwriter.Workbook(str(target))
            wb.add_worksheet("Sheet1").write_row(0, 0, ["说明", "本月无数据"])
            wb.close()
            fmt = "xlsx"
        else:
            raise ValueError(kind)
        self._record(target.relative_to(self.root), prefecture, period, fmt, when, kind)

    def _record(self, rel: Path, prefecture: str, period: str, fmt: str, when: datetime, rule: str) -> None:
        self.records.append(DropRecord(str(rel), prefecture, period, fmt, when, "rejected", rule))
        set_received(self.root / rel, when)

    def truth(self, parameters: dict) -> dict:
        newest: dict[tuple[str, str], DropRecord] = {}
        for r in self.records:
            if r.expected_status in ("accepted", "superseded") and r.tally is not None:
                key = (r.prefecture_code, r.period)
                if key not in newest or (r.received_at, r.path) > (newest[key].received_at, newest[key].path):
                    newest[key] = r
        funds, activity, benefits = [], [], []
        persons: set[str] = set()
        by_prefecture: dict[str, set[str]] = defaultdict(set)
        for (prefecture, period), r in sorted(newest.items()):
            t = r.tally
            for (program, flow), (amount, n) in sorted(t.funds.items()):
                funds.append({"prefecture_code": prefecture, "period": period, "program_code": program,
                              "flow_type": flow, "amount_yuan": str(amount), "rows": n})
            for program, (events, people, volunteers, n) in sorted(t.activity.items()):
                activity.append({"prefecture_code": prefecture, "period": period, "program_code": program,
                                 "events": events, "beneficiaries": people, "volunteers": volunteers, "rows": n})
            for program, (amount, n) in sorted(t.benefits.items()):
                benefits.append({"prefecture_code": prefecture, "period": period, "program_code": program,
                                 "amount_yuan": str(amount), "rows": n})
            persons |= t.persons
            by_prefecture[prefecture] |= t.persons
        return {
            "parameters": parameters,
            "drops": [r.as_json() for r in sorted(self.records, key=lambda r: r.path)],
            "newest_drops": sorted(r.path for r in newest.values()),
            "totals": {"funds": funds, "activity": activity, "benefits": benefits},
            "distinct_persons": len(persons),
            "distinct_persons_by_prefecture": {k: len(v) for k, v in sorted(by_prefecture.items())},
        }
