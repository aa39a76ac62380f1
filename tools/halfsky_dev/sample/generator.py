"""Build a landing tree of drops and the truth about what it holds.

Layout: ``<root>/<prefecture>/<YYYY-MM>/<drop>`` for the monthly forms and
``<root>/<prefecture>/<YYYY>/<drop>`` for the annual ones (contract v2), drops
rotating through the three formats. For every year the months touch, a unit
sends its plan (targets and population) in January, on time; once the year is
over (before the as-of date), a full resend with the year-end count of sites and
(contract v3) grassroots coverage in January of the next year, on time, which
supersedes the plan.

The truth file (``Generator.truth``) says what the pipeline and the marts must
make of the tree. "Newest valid drop" below means, per prefecture and period,
the accepted drop the pipeline keeps (the superseded and duplicate ones are not
counted); monthly and annual periods are separate.

- ``drops``: every drop with ``expected_status`` (accepted, superseded, duplicate,
  rejected), ``expected_rule`` (the one error of a rejected drop) and
  ``expected_warnings`` (exactly the warnings the pipeline gives it, ignoring
  unknown_column).
- ``newest_drops``: the newest valid monthly drops; ``newest_annual_drops``: the
  newest valid annual drops.
- ``totals``: per prefecture, month and program over the newest monthly drops:
  ``funds`` (per flow_type: amount_yuan, rows, in_kind_amount_yuan,
  internal_transfer_amount_yuan), ``activity`` (events, beneficiaries,
  volunteers, rows, quantity), ``benefits`` (amount_yuan, rows);
  ``distinct_persons`` and ``distinct_persons_by_prefecture``.
- ``money``: per prefecture (reporting unit), year and program over the newest
  monthly drops of the year: raised_yuan (INCOMING except from
  SUPERIOR_FEDERATION), incoming_yuan (all INCOMING), spent_yuan (EXPENDITURE
  plus DISBURSEMENT whose recipient_region_code is empty or not a region of the
  unit), internal_transfers_yuan (DISBURSEMENT to a region of the unit),
  in_kind_yuan (in-kind INCOMING), cash_paid_yuan (CASH benefits); cash and in
  kind together unless named.
- ``target_completion``: per year, unit, program and indicator the unit's
  newest annual drop sets a target for: target_value (summed over its rows),
  actual_value (as indicators.csv computes it over the newest monthly drops of
  the year), completion_rate (actual / target, 4 decimals half up; null when
  the target is 0).
- ``coverage``: per year, unit and program with a population_group_code:
  persons_reached (distinct id numbers with an eligible row in the program's
  line list, newest monthly drops of the year), population (the group summed
  over the newest annual drop; null without one), coverage_rate (4 decimals);
  only where persons_reached or population is not 0.
- ``population`` and ``sites``: per year, unit and population group or site
  type, summed over the newest annual drop (sites only in year-end drops).
- ``grassroots``: per year, unit and county of the newest year-end drop, its
  counts as written (townships, townships_with_federation, villages,
  villages_with_federation, villages_with_womens_home, committees_with_women,
  chairs_in_committee; null where the county left an optional count empty).

Money is a string with 2 decimals, counts are ints, years ints.
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
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Callable, Iterator

from halfsky.contract import id_numbers
from halfsky.contract.forms import ANNUAL_FORMS, GRASSROOTS, MONTHLY_FORMS
from halfsky.contract.periods import SHANGHAI, deadline, is_year, next_period, period_bounds
from halfsky.contract.reference.code_lists import ProgramRules, reference_data
from halfsky.contract.reference.divisions import all_divisions, allowed_region_codes, counties_of
from halfsky_dev.sample import catalog
from halfsky_dev.sample.content import (INJECTIONS, AnnualContent, MixedContent, ReportContent, program_unit, rng_for,
                                    unit_counties)
from halfsky_dev.sample.writers import EXTENSIONS, WRITERS, Style, write_csv_folder, write_json

FORMATS = ("xlsx", "csv", "json")
# Mix Inner Mongolia, Ili and the cities of the seed documents in the first few.
PREFECTURE_ORDER = ("150100", "654000", "150200", "371500", "152500", "330800", "150600", "440500", "360900", "420200", "130900")
PLAN_FORMS = ("targets", "population")

ROW_INVALID_KINDS = (
    "required", "type", "min_value", "max_length", "code_list", "region_outside_prefecture",
    "date_outside_period", "duplicate_key", "duplicate_voucher", "id_number_check", "cash_amount_required",
    "unit_mismatch", "quantity_without_unit", "unknown_region",
)
FILE_INVALID_KINDS = (
    "unreadable", "undecodable", "unknown_format", "expands_too_large", "unknown_prefecture",
    "inactive_prefecture", "malformed_period", "future_period", "missing_column", "header_mismatch", "no_forms",
)
FORM_INVALID_KINDS = ("wrong_period_kind", "new_exceeds_total", "exceeds_total", "not_a_county")
GRASSROOTS_MEASURES = tuple(name for name in GRASSROOTS.field_names if name != "region_code")  # the truth's counts
INVALID_KINDS = FILE_INVALID_KINDS + ROW_INVALID_KINDS + FORM_INVALID_KINDS

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
RATE = Decimal("0.0001")
MONEY_KEYS = ("raised_yuan", "incoming_yuan", "spent_yuan", "internal_transfers_yuan", "in_kind_yuan", "cash_paid_yuan",
              "opening_balance_yuan")
MONEY_INDICATORS = {"FUNDS_RAISED": "raised_yuan", "FUNDS_SPENT": "spent_yuan", "CASH_PAID": "cash_paid_yuan"}
ACTIVITY_INDICATORS = {"EVENTS": 0, "PERSON_TIMES": 1, "VOLUNTEER_TIMES": 2, "QUANTITY": 3}


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def is_eligible(rules: ProgramRules | None, id_number: str, day: date) -> bool:
    """programs.csv's eligibility: gender (17th digit odd = male) and age on the benefit date, from the id number."""
    if rules is None or not rules.has_eligibility:
        return True
    number = id_numbers.normalise(id_number)
    born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    age = age_on(born, day)
    if rules.eligible_gender and id_numbers.gender(number) != rules.eligible_gender:
        return False
    return (rules.age_min is None or age >= rules.age_min) and (rules.age_max is None or age <= rules.age_max)


class SlotTally:
    """Totals of one monthly drop as written, keyed for the truth file (and for the annual targets).
    Holds per-program sets of persons, like the distinct-person count always did; nothing else grows with rows."""

    def __init__(self, unit: str):
        self.own = allowed_region_codes(unit)  # a disbursement to one of these is an internal transfer
        self.rules = reference_data().programs
        self.funds: dict = defaultdict(lambda: [ZERO, 0, ZERO, ZERO])  # (program, flow): amount, rows, in kind, internal
        self.activity: dict = defaultdict(lambda: [0, 0, 0, 0, 0])  # program: events, beneficiaries, volunteers, rows, quantity
        self.benefits: dict = defaultdict(lambda: [ZERO, 0])  # program: amount, rows
        self.persons: set = set()
        self.money: dict = defaultdict(lambda: dict.fromkeys(MONEY_KEYS, ZERO))  # program: see MONEY_KEYS
        self.region_activity: dict = defaultdict(lambda: [0, 0, 0, 0])  # (region, program): events, beneficiaries, volunteers, quantity
        self.key_person_times: dict = defaultdict(int)  # (region, program, group): person-times, for next months' persons_ytd
        self.key_persons_ytd: dict = {}  # (region, program, group): persons_ytd as written
        self.region_persons: dict = defaultdict(set)  # (region, program): id numbers
        self.region_cash: dict = defaultdict(lambda: ZERO)  # (region, program): cash paid
        self.program_persons: dict = defaultdict(set)  # program: id numbers
        self.eligible_persons: dict = defaultdict(set)  # program: id numbers of rows the program's eligibility admits

    def __call__(self, form: str, row: dict) -> None:
        program = row["program_code"]
        if form == "funds":
            flow, amount, in_kind = row["flow_type"], row["amount_yuan"], bool(row.get("in_kind"))
            internal = flow == "DISBURSEMENT" and row.get("recipient_region_code") in self.own
            t = self.funds[(program, flow)]
            t[0] += amount
            t[1] += 1
            t[2] += amount if in_kind else ZERO
            t[3] += amount if internal else ZERO
            m = self.money[program]
            if flow == "OPENING_BALANCE":  # neither raised, incoming nor spent (contract v3)
                m["opening_balance_yuan"] += amount
            elif flow == "INCOMING":
                m["incoming_yuan"] += amount
                m["raised_yuan"] += amount if row["fund_source_code"] != "SUPERIOR_FEDERATION" else ZERO
                m["in_kind_yuan"] += amount if in_kind else ZERO
            elif internal:
                m["internal_transfers_yuan"] += amount
            else:
                m["spent_yuan"] += amount
        elif form == "activity":
            t = self.activity[program]
            quantity = row.get("quantity") or 0
            for i, value in enumerate((row["events"], row["beneficiaries"], row["volunteers"], 1, quantity)):
                t[i] += value
            r = self.region_activity[(row["region_code"], program)]
            for i, value in enumerate((row["events"], row["beneficiaries"], row["volunteers"], quantity)):
                r[i] += value
            key = (row["region_code"], program, row["beneficiary_group_code"])
            self.key_person_times[key] += row["beneficiaries"]
            if row.get("persons_ytd") is not None:
                self.key_persons_ytd[key] = row["persons_ytd"]
        elif form == "beneficiaries":
            t = self.benefits[program]
            t[0] += row["amount_yuan"] or 0
            t[1] += 1
            number = id_numbers.normalise(row["id_number"])
            self.persons.add(number)
            self.program_persons[program].add(number)
            self.region_persons[(row["region_code"], program)].add(number)
            if is_eligible(self.rules.get(program), number, row["benefit_date"]):
                self.eligible_persons[program].add(number)
            if row["benefit_type"] == "CASH":
                self.money[program]["cash_paid_yuan"] += row["amount_yuan"]
                self.region_cash[(row["region_code"], program)] += row["amount_yuan"]


class AnnualTally:
    """Totals of one annual drop as written."""

    def __init__(self) -> None:
        self.targets: dict = defaultdict(lambda: ZERO)  # (program, indicator): target value
        self.population: dict = defaultdict(int)  # population group: persons or households
        self.sites: dict = defaultdict(lambda: [0, 0, 0])  # site type: total, new this year, people
        self.grassroots: dict = {}  # county: the row's counts as written (None: left empty, unknown)

    def __call__(self, form: str, row: dict) -> None:
        if form == "targets":
            self.targets[(row["program_code"], row["indicator_code"])] += Decimal(row["target_value"])
        elif form == "population":
            self.population[row["population_group_code"]] += row["population"]
        elif form == "sites":
            t = self.sites[row["site_type_code"]]
            t[0] += row["total"]
            t[1] += row["new_this_year"] or 0
            t[2] += row["people"] or 0
        elif form == "grassroots":
            self.grassroots[row["region_code"]] = {m: row.get(m) for m in GRASSROOTS_MEASURES}


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
    tally: SlotTally | AnnualTally | None = None

    def as_json(self) -> dict:
        return {
            "path": self.path, "prefecture_code": self.prefecture_code, "period": self.period, "format": self.format,
            "received_at": self.received_at.isoformat(), "expected_status": self.expected_status,
            "expected_rule": self.expected_rule, "expected_warnings": self.expected_warnings,
        }


@dataclass
class YearView:
    """A unit's year over its newest valid monthly drops: what indicators are computed from."""

    months: int = 0
    activity: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0]))  # program: events, beneficiaries, volunteers, quantity
    persons: dict = field(default_factory=lambda: defaultdict(set))  # program: id numbers
    eligible: dict = field(default_factory=lambda: defaultdict(set))  # program: id numbers of eligible rows
    money: dict = field(default_factory=lambda: defaultdict(lambda: dict.fromkeys(MONEY_KEYS, ZERO)))
    region_activity: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0]))
    region_persons: dict = field(default_factory=lambda: defaultdict(set))
    region_cash: dict = field(default_factory=lambda: defaultdict(lambda: ZERO))
    key_persons_ytd: dict = field(default_factory=dict)  # (region, program, group): the newest month's persons_ytd
    key_ytd_period: dict = field(default_factory=dict)  # (region, program, group): that month
    newest_period: str | None = None

    def add(self, t: SlotTally, period: str | None = None) -> None:
        """Months are added in order, so a key's persons_ytd is its newest month's."""
        self.months += 1
        self.key_persons_ytd.update(t.key_persons_ytd)
        self.key_ytd_period.update(dict.fromkeys(t.key_persons_ytd, period))
        self.newest_period = max(filter(None, (self.newest_period, period)), default=None)
        for program, (events, people, volunteers, _, quantity) in t.activity.items():
            for i, value in enumerate((events, people, volunteers, quantity)):
                self.activity[program][i] += value
        for program, ids in t.program_persons.items():
            self.persons[program] |= ids
        for program, ids in t.eligible_persons.items():
            self.eligible[program] |= ids
        for program, m in t.money.items():
            for key in MONEY_KEYS:
                self.money[program][key] += m[key]
        for key, values in t.region_activity.items():
            for i, value in enumerate(values):
                self.region_activity[key][i] += value
        for key, ids in t.region_persons.items():
            self.region_persons[key] |= ids
        for key, amount in t.region_cash.items():
            self.region_cash[key] += amount

    def value(self, program: str, indicator: str, region: str | None = None):
        """An indicator as indicators.csv computes it, for the unit (region None) or one county."""
        if indicator in ACTIVITY_INDICATORS:
            source = self.activity.get(program) if region is None else self.region_activity.get((region, program))
            return source[ACTIVITY_INDICATORS[indicator]] if source else 0
        if indicator == "DISTINCT_PERSONS":
            return self.persons_reached(program, region)
        if indicator == "CASH_PAID" and region is not None:
            return self.region_cash.get((region, program), ZERO)
        m = self.money.get(program)
        return m[MONEY_INDICATORS[indicator]] if m else ZERO

    def persons_reached(self, program: str, region: str | None = None, eligible: bool = False) -> int | None:
        """Contract v3: persons_ytd of each key's newest month, added up; else, for a program whose line list is
        complete, its distinct (eligible, for coverage) persons; else unknown."""
        counts = [v for k, v in self.key_persons_ytd.items() if k[1] == program and region in (None, k[0])]
        if counts:
            return sum(counts)
        if not reference_data().programs[program].line_list_complete:
            return None
        if region is not None:
            return len(self.region_persons.get((region, program), ()))
        return len((self.eligible if eligible else self.persons).get(program, ()))


def periods_from(first: str, months: int) -> list[str]:
    out = [first]
    while len(out) < months:
        out.append(next_period(out[-1]))
    return out


def year_earlier(period: str) -> str:
    return f"{int(period[:4]) - 1:04d}{period[4:]}"


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


class MutatedContent:
    """A report with one deliberate change to one form's rows (that form is held in memory: drops made
    invalid on purpose are small)."""

    def __init__(self, base, form: str, change: Callable[[list[dict]], list[dict]]):
        self.prefecture, self.period = base.prefecture, base.period
        self._base, self._form, self._change = base, form, change

    def form_rows(self, form: str) -> Iterator[dict]:
        rows = self._base.form_rows(form)
        return iter(self._change(list(rows))) if form == self._form else rows


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
    if kind == "unit_mismatch":
        return "activity", _set("beneficiaries", "120户")  # households in a person-times field
    if kind == "quantity_without_unit":
        def quantity(rows):
            i = next(i for i, r in enumerate(rows) if program_unit(r["program_code"]) is None)
            rows[i] = dict(rows[i], quantity=5)
            return rows
        return "activity", quantity
    if kind == "unknown_region":
        def recipient(rows):
            i = next((i for i, r in enumerate(rows) if r["flow_type"] == "DISBURSEMENT"), 1)
            rows[i] = dict(rows[i], flow_type="DISBURSEMENT", recipient_region_code="990000")
            return rows
        return "funds", recipient
    raise ValueError(kind)


def write_zip_bomb(path: Path, expanded_bytes: int) -> None:
    """An xlsx whose one sheet inflates to ``expanded_bytes`` from a few hundred KB."""
    chunk = b"<row/>" * (1 << 16)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        stamp = (2026, 1, 1, 0, 0, 0)  # fixed, so the same seed writes the same bytes
        zf.writestr(zipfile.ZipInfo("[Content_Types].xml", stamp), '<?xml version="1.0"?><Types/>')
        sheet = zipfile.ZipInfo("xl/worksheets/sheet1.xml", stamp)
        sheet.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(sheet, "w", force_zip64=True) as member:
            written = 0
            while written < expanded_bytes:
                member.write(chunk)
                written += len(chunk)


def _nice_count(value: Decimal) -> int:
    """A target as a plan states it: two significant digits (1234 -> 1200), at least 1."""
    whole = int(value.to_integral_value(ROUND_HALF_UP))
    if whole < 100:
        return max(1, whole)
    magnitude = 10 ** (len(str(whole)) - 2)
    return int(Decimal(whole / magnitude).to_integral_value(ROUND_HALF_UP)) * magnitude


def _nice_money(value: Decimal) -> Decimal:
    """A money target: whole thousands of yuan, at least 1,000."""
    return max(Decimal(1000), (value / 1000).to_integral_value(ROUND_HALF_UP) * 1000).quantize(CENT)


def _rate(numerator, denominator) -> float | None:
    if not denominator or numerator is None:
        return None
    return float((Decimal(numerator) / Decimal(denominator)).quantize(RATE, rounding=ROUND_HALF_UP))


def _figure(indicator: str, value):
    """Money as a string of 2 decimals, counts as ints; None (persons that cannot be counted) stays None."""
    if value is None:
        return None
    return str(Decimal(value).quantize(CENT)) if indicator in MONEY_INDICATORS else int(value)


class Generator:
    def __init__(self, root: Path, *, prefectures: list[str], periods: list[str], rows: int, dirty: bool,
                 seed: int, as_of: datetime, late_every: int = 4):
        self.root, self.prefectures, self.periods, self.rows, self.dirty = root, prefectures, periods, rows, dirty
        self.seed, self.as_of, self.late_every = seed, as_of, late_every
        self.records: list[DropRecord] = []

    def _write(self, rel: Path, fmt: str, content, when: datetime, rng: random.Random,
               forms=MONTHLY_FORMS, status="accepted", rule=None) -> DropRecord:
        valid = status == "accepted"
        tally = (AnnualTally() if is_year(content.period) else SlotTally(content.prefecture)) if valid else None
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        # Broken drops are written clean, so the one deliberate fault is the only one.
        style = Style.pick(self.dirty, rng) if valid else Style()
        WRITERS[fmt](target, content, forms, style, tally or (lambda form, row: None), rng)
        set_received(target, when)
        warnings = ["late_drop"] if valid and when > deadline(content.period, frozenset(forms)) else []
        record = DropRecord(str(rel), content.prefecture, content.period, fmt, when, status, rule, warnings, tally)
        self.records.append(record)
        return record

    # -- monthly drops --

    def slots(self) -> list[tuple[str, str]]:
        return [(prefecture, period) for prefecture in self.prefectures for period in self.periods]

    def place_injections(self, resubmissions: int, duplicates: int) -> dict[int, str]:
        """Slot index -> warning to inject, one per drop, never in a slot that is resubmitted or duplicated.
        cash_exceeds_spending needs the unit's first month of a year (nothing spent on relief before it),
        spending_over_incoming its last (no later month inherits the deficit), cash_over_cap a month after
        the first (whose relief recipient it pays again). A maximum matching, earlier kinds first: when
        there are too few free slots, the last kinds of INJECTIONS are left out."""
        slots = self.slots()
        busy = max(resubmissions, duplicates)
        year_slots: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i, (prefecture, period) in enumerate(slots):
            year_slots[(prefecture, period[:4])].append(i)

        def fits(kind: str, i: int) -> bool:
            prefecture, period = slots[i]
            same_year = year_slots[(prefecture, period[:4])]
            if i < busy:
                return False
            if kind == "cash_exceeds_spending":
                return i == same_year[0]
            if kind == "spending_over_incoming":
                return i == same_year[-1]
            if kind == "cash_over_cap":
                return i != same_year[0]
            return True

        match: dict[int, str] = {}

        def augment(kind: str, seen: set[int]) -> bool:
            for i in range(len(slots)):
                if i not in seen and fits(kind, i):
                    seen.add(i)
                    if i not in match or augment(match[i], seen):
                        match[i] = kind
                        return True
            return False

        for kind in INJECTIONS:
            augment(kind, set())
        return match

    def _newest(self, prefecture: str, period: str) -> DropRecord | None:
        candidates = [r for r in self.records if (r.prefecture_code, r.period) == (prefecture, period)
                      and r.expected_status in ("accepted", "superseded") and r.tally is not None]
        return max(candidates, key=lambda r: (r.received_at, r.path), default=None)

    def _slack(self, prefecture: str, period: str, program: str) -> Decimal:
        """Incoming minus spending on a program over every valid drop of the unit's earlier months of the
        year (each drop has incoming >= spending, so this bounds the year-to-date slack however counted)."""
        slack = ZERO
        for r in self.records:
            if (r.prefecture_code == prefecture and isinstance(r.tally, SlotTally) and r.period[:4] == period[:4]
                    and r.period < period and (m := r.tally.money.get(program))):
                slack += m["opening_balance_yuan"] + m["incoming_yuan"] - m["spent_yuan"]
        return max(slack, ZERO)

    def _person_times_before(self, prefecture: str, period: str) -> dict[tuple[str, str, str], int]:
        """Person-times per activity key in the newest valid drop of each of the unit's earlier months of the year:
        what persons_ytd is checked against when this month is judged."""
        total: dict[tuple[str, str, str], int] = defaultdict(int)
        for earlier in self.periods:
            if earlier[:4] == period[:4] and earlier < period and (r := self._newest(prefecture, earlier)) is not None:
                for key, value in r.tally.key_person_times.items():
                    total[key] += value
        return total

    def _month(self, prefecture: str, period: str, inject: str | None, first_of_year: str) -> ReportContent:
        before = self._person_times_before(prefecture, period)
        if inject is None:
            return ReportContent(self.seed, prefecture, period, self.rows, person_times_before=before)
        content = ReportContent(self.seed, prefecture, period, self.rows, inject=inject,
                                deficit_over=self._slack(prefecture, period, catalog.DEFICIT_PROGRAM),
                                relief_from=first_of_year if first_of_year != period else None,
                                person_times_before=before)
        applied = content.injection_applied
        if applied and inject == "cash_over_cap":
            earlier = self._newest(prefecture, first_of_year)
            paid = earlier.tally.program_persons.get(catalog.CASH_CAPPED_PROGRAM, set()) if earlier else set()
            applied = content.relief_person(first_of_year).id_number in paid
        return content if applied else ReportContent(self.seed, prefecture, period, self.rows, person_times_before=before)

    def valid_drops(self, resubmissions: int, duplicates: int, with_warnings: bool) -> None:
        injections = self.place_injections(resubmissions, duplicates) if with_warnings else {}
        first_of_year: dict[tuple[str, str], str] = {}
        for slot, (prefecture, period) in enumerate(self.slots()):
            first = first_of_year.setdefault((prefecture, period[:4]), period)
            rng = rng_for(self.seed, "slot", prefecture, period)
            fmt = FORMATS[slot % len(FORMATS)]
            when = received(rng, period, late=slot % self.late_every == self.late_every - 1)
            content = self._month(prefecture, period, injections.get(slot), first)
            rel = Path(prefecture, period, f"{prefecture}_{period}_v1{EXTENSIONS[fmt]}")
            record = self._write(rel, fmt, content, when, rng)
            if content.injection_applied:
                record.expected_warnings.append(content.inject)
            if slot < duplicates:
                copy = rel.with_name(f"{prefecture}_{period}_v1_copy{EXTENSIONS[fmt]}")
                copier = shutil.copytree if fmt == "csv" else shutil.copyfile
                copier(self.root / rel, self.root / copy)
                set_received(self.root / copy, when + timedelta(hours=1))
                self.records.append(DropRecord(str(copy), prefecture, period, fmt, when + timedelta(hours=1), "duplicate"))
            if slot < resubmissions:
                record.expected_status = "superseded"
                fixed = ReportContent(self.seed, prefecture, period, self.rows, version=2,
                                      person_times_before=self._person_times_before(prefecture, period))
                fmt2 = FORMATS[(slot + 1) % len(FORMATS)]
                rel2 = Path(prefecture, period, f"{prefecture}_{period}_v2{EXTENSIONS[fmt2]}")
                self._write(rel2, fmt2, fixed, when + timedelta(days=2), rng)

    # -- annual drops --

    def _year_view(self, prefecture: str, year: str) -> YearView:
        view = YearView()
        for period in self.periods:
            if period[:4] == year and (r := self._newest(prefecture, period)) is not None:
                view.add(r.tally, period)
        return view

    def _targets(self, prefecture: str, year: str, rng: random.Random) -> list[dict]:
        """The year's targets: the full-year value at the rate of the months written, times 0.8-1.3."""
        view = self._year_view(prefecture, year)
        if not view.months:
            return []
        rows = []
        for program, indicator, level in catalog.TARGETS:
            regions = [prefecture] if level == "unit" else list(unit_counties(prefecture))
            for region in regions:
                actual = view.value(program, indicator, None if level == "unit" else region)
                if not actual:
                    continue
                full_year = Decimal(actual) / view.months * 12 * Decimal(rng.randint(80, 130)) / 100
                target = _nice_money(full_year) if indicator in MONEY_INDICATORS else _nice_count(full_year)
                rows.append({"region_code": region, "program_code": program, "indicator_code": indicator,
                             "target_value": target, "remarks": rng.choice(catalog.TARGET_REMARKS)})
        return sorted(rows, key=lambda r: (r["region_code"], r["program_code"], r["indicator_code"]))

    def annual_drops(self) -> None:
        """Per unit and year the months touch: the plan in January, and the year-end resend (with sites)
        in January of the next year when that is before the as-of date; both on time."""
        n = 0
        for prefecture in self.prefectures:
            for year in sorted({p[:4] for p in self.periods}):
                rng = rng_for(self.seed, "annual", prefecture, year)
                targets = self._targets(prefecture, year, rng)
                at = datetime(int(year), 1, rng.randint(3, 25), rng.randint(8, 18), rng.randint(0, 59), tzinfo=SHANGHAI)
                fmt = FORMATS[n % len(FORMATS)]
                n += 1
                rel = Path(prefecture, year, f"{prefecture}_{year}_plan{EXTENSIONS[fmt]}")
                plan = self._write(rel, fmt, AnnualContent(self.seed, prefecture, year, targets), at, rng, forms=PLAN_FORMS)
                end = datetime(int(year) + 1, 1, rng.randint(5, 20), rng.randint(8, 18), rng.randint(0, 59), tzinfo=SHANGHAI)
                if end < self.as_of - timedelta(hours=1):
                    plan.expected_status = "superseded"
                    fmt = FORMATS[n % len(FORMATS)]
                    n += 1
                    rel = Path(prefecture, year, f"{prefecture}_{year}_year_end{EXTENSIONS[fmt]}")
                    content = AnnualContent(self.seed, prefecture, year, targets, version="year_end")
                    self._write(rel, fmt, content, end, rng, forms=ANNUAL_FORMS)

    # -- invalid drops --

    def invalid_drops(self, kinds: list[str]) -> None:
        prefecture, period = self.prefectures[0], self.periods[-1]
        for i, kind in enumerate(kinds):
            rng = rng_for(self.seed, "invalid", kind)
            when = received(rng, period, late=False)
            base = ReportContent(self.seed, prefecture, period, rows=max(4, min(self.rows, 8)), version=100 + i)
            stem = f"{prefecture}_{period}_bad_{kind}"
            fmt = FORMATS[i % len(FORMATS)]
            if kind in ROW_INVALID_KINDS:
                form, change = row_mutation(kind, base)
                self._write(Path(prefecture, period, stem + EXTENSIONS[fmt]), fmt, MutatedContent(base, form, change),
                            when, rng, status="rejected", rule=kind)
            elif kind == "wrong_period_kind":
                county = base.regions[0]
                target = {"region_code": county, "program_code": "TWO_CANCER_SCREEN", "indicator_code": "PERSON_TIMES",
                          "target_value": 1200, "remarks": ""}
                content = MixedContent(base, AnnualContent(self.seed, prefecture, period[:4], [target]))
                self._write(Path(prefecture, period, stem + EXTENSIONS[fmt]), fmt, content, when, rng,
                            forms=(*MONTHLY_FORMS, "targets"), status="rejected", rule=kind)
            elif kind == "new_exceeds_total":
                year = period[:4]
                annual = AnnualContent(self.seed, prefecture, year, [], version="bad")
                content = MutatedContent(annual, "sites", _set_new_over_total)
                self._write(Path(prefecture, year, f"{prefecture}_{year}_bad_{kind}{EXTENSIONS[fmt]}"), fmt, content, when, rng,
                            forms=("population", "sites"), status="rejected", rule=kind)
            elif kind in ("exceeds_total", "not_a_county"):
                year = period[:4]
                annual = AnnualContent(self.seed, prefecture, year, [], version="bad")
                change = _set_count_over_total if kind == "exceeds_total" else _set_row_to_the_unit
                content = MutatedContent(annual, "grassroots", change)
                self._write(Path(prefecture, year, f"{prefecture}_{year}_bad_{kind}{EXTENSIONS[fmt]}"), fmt, content, when, rng,
                            forms=("sites", "grassroots"), status="rejected", rule=kind)
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
            wb.set_properties({"created": datetime(2026, 1, 1)})
            wb.add_worksheet("Sheet1").write_row(0, 0, ["说明", "本月无数据"])
            wb.close()
            fmt = "xlsx"
        else:
            raise ValueError(kind)
        self._record(target.relative_to(self.root), prefecture, period, fmt, when, kind)

    def _record(self, rel: Path, prefecture: str, period: str, fmt: str, when: datetime, rule: str) -> None:
        self.records.append(DropRecord(str(rel), prefecture, period, fmt, when, "rejected", rule))
        set_received(self.root / rel, when)

    # -- the truth --

    def _newest_valid(self, annual: bool) -> dict[tuple[str, str], DropRecord]:
        newest: dict[tuple[str, str], DropRecord] = {}
        for r in self.records:
            if r.expected_status in ("accepted", "superseded") and r.tally is not None and is_year(r.period) == annual:
                key = (r.prefecture_code, r.period)
                if key not in newest or (r.received_at, r.path) > (newest[key].received_at, newest[key].path):
                    newest[key] = r
        return newest

    def truth(self, parameters: dict) -> dict:
        """What the pipeline and the marts must show: the keys the module docstring lists."""
        newest = self._newest_valid(annual=False)
        newest_annual = self._newest_valid(annual=True)
        funds, activity, benefits = [], [], []
        persons: set[str] = set()
        by_prefecture: dict[str, set[str]] = defaultdict(set)
        views: dict[tuple[str, str], YearView] = defaultdict(YearView)
        for (prefecture, period), r in sorted(newest.items()):
            t = r.tally
            views[(prefecture, period[:4])].add(t, period)
            for (program, flow), (amount, n, in_kind, internal) in sorted(t.funds.items()):
                funds.append({"prefecture_code": prefecture, "period": period, "program_code": program,
                              "flow_type": flow, "amount_yuan": str(amount), "rows": n,
                              "in_kind_amount_yuan": str(in_kind), "internal_transfer_amount_yuan": str(internal)})
            for program, (events, people, volunteers, n, quantity) in sorted(t.activity.items()):
                activity.append({"prefecture_code": prefecture, "period": period, "program_code": program,
                                 "events": events, "beneficiaries": people, "volunteers": volunteers, "rows": n,
                                 "quantity": quantity})
            for program, (amount, n) in sorted(t.benefits.items()):
                benefits.append({"prefecture_code": prefecture, "period": period, "program_code": program,
                                 "amount_yuan": str(amount), "rows": n})
            persons |= t.persons
            by_prefecture[prefecture] |= t.persons
        money = []
        for (prefecture, year), view in sorted(views.items()):
            for program, m in sorted(view.money.items()):
                money.append({"prefecture_code": prefecture, "year": int(year), "program_code": program,
                              **{key: str(m[key]) for key in MONEY_KEYS}})
        completion = []
        for (prefecture, year), r in sorted(newest_annual.items()):
            view = views.get((prefecture, year), YearView())
            for (program, indicator), target in sorted(r.tally.targets.items()):
                actual = view.value(program, indicator)
                completion.append({"year": int(year), "reporting_unit_code": prefecture, "program_code": program,
                                   "indicator_code": indicator, "target_value": _figure(indicator, target),
                                   "actual_value": _figure(indicator, actual), "completion_rate": _rate(actual, target)})
        coverage, population, sites, grassroots = [], [], [], []
        programs = reference_data().programs
        for prefecture, year in sorted(set(views) | set(newest_annual)):
            view, annual = views.get((prefecture, year), YearView()), newest_annual.get((prefecture, year))
            for program, rules in sorted(programs.items()):
                if not rules.population_group_code:
                    continue
                reached = view.persons_reached(program, eligible=True)
                base = annual.tally.population.get(rules.population_group_code) if annual else None
                if reached is not None or base:
                    coverage.append({"year": int(year), "reporting_unit_code": prefecture, "program_code": program,
                                     "population_group_code": rules.population_group_code, "persons_reached": reached,
                                     "population": base, "coverage_rate": _rate(reached, base)})
            if annual:
                for group, value in sorted(annual.tally.population.items()):
                    population.append({"year": int(year), "reporting_unit_code": prefecture, "population_group_code": group,
                                       "population": value})
                for site_type, (total, new, people) in sorted(annual.tally.sites.items()):
                    sites.append({"year": int(year), "reporting_unit_code": prefecture, "site_type_code": site_type,
                                  "total": total, "new_this_year": new, "people": people})
                for county, counts in sorted(annual.tally.grassroots.items()):
                    grassroots.append({"year": int(year), "reporting_unit_code": prefecture, "region_code": county, **counts})
        return {
            "parameters": parameters,
            "drops": [r.as_json() for r in sorted(self.records, key=lambda r: r.path)],
            "newest_drops": sorted(r.path for r in newest.values()),
            "newest_annual_drops": sorted(r.path for r in newest_annual.values()),
            "totals": {"funds": funds, "activity": activity, "benefits": benefits},
            "distinct_persons": len(persons),
            "distinct_persons_by_prefecture": {k: len(v) for k, v in sorted(by_prefecture.items())},
            "money": money,
            "target_completion": completion,
            "coverage": coverage,
            "population": population,
            "sites": sites,
            "grassroots": grassroots,
        }


def _set_new_over_total(rows: list[dict]) -> list[dict]:
    rows[1] = dict(rows[1], new_this_year=rows[1]["total"] + 3)
    return rows


def _set_count_over_total(rows: list[dict]) -> list[dict]:
    """exceeds_total alone: more villages with a federation than villages (the 2nd county; the 1st if only one)."""
    i = min(1, len(rows) - 1)
    rows[i] = dict(rows[i], villages_with_federation=rows[i]["villages"] + 2)
    return rows


def _set_row_to_the_unit(rows: list[dict]) -> list[dict]:
    """not_a_county alone: the 2nd county's row under its prefecture's code (a region the unit reports for, so
    region_outside_prefecture holds), which no other row uses."""
    i = min(1, len(rows) - 1)
    rows[i] = dict(rows[i], region_code=all_divisions()[rows[i]["region_code"]].prefecture_code)
    return rows
