"""The rows of one report, generated lazily and deterministically.

``ReportContent`` is a prefecture-month (activity, funds, beneficiaries);
``AnnualContent`` a prefecture-year (targets, population, sites, grassroots). Rows are
canonical Python values (str codes, int counts, Decimal yuan, date, bool); how
they are written to disk (clean or dirty cells, csv/xlsx/json) is the writers'
business. Everything is derived from a seed, so a benchmark can ask for
millions of rows without holding them in memory: a month is planned first (which
county-program-group rows, how many line-list persons each, which programs move
money), a plan whose size is bounded by the code lists, not by the rows.

A valid month draws no warning the pipeline computes (contract v2) unless one is
injected on purpose (``inject``):
- every person is eligible for the program (gender, age on the benefit date from
  the id number), drawn from a pool that fits the program and the group;
- every (county, program) of the line list has at least as many person-times in
  the activity form as distinct persons in the line list;
- per program, the month's incoming money covers its spending (expenditure and
  disbursements to outside the unit; internal transfers to the unit's own counties
  are neither), and its spending covers the cash paid to persons (a row of its own);
- two-cancer relief (capped at 10,000 yuan a person a year) walks a pool of its
  own, a block of indices per month, so no one is paid twice in a year;
- nobody receives the same cash benefit twice in a month.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from functools import lru_cache
from math import gcd
from typing import Iterator

from halfsky.contract import id_numbers
from halfsky.contract.forms import FORMS, GRASSROOTS_TOTALS, YEAR
from halfsky.contract.periods import period_bounds
from halfsky.contract.reference.code_lists import reference_data
from halfsky.contract.reference.divisions import all_divisions, allowed_region_codes
from halfsky_dev.sample import catalog

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

# Warnings a valid month can be made to draw on purpose (generator --with-warnings).
INJECTIONS = ("duplicate_cash_benefit", "ineligible_beneficiary", "persons_exceed_person_times",
              "cash_exceeds_spending", "spending_over_incoming", "cash_over_cap")


def rng_for(*parts: object) -> random.Random:
    return random.Random(":".join(map(str, parts)))


def money(rng: random.Random, low: int, high: int) -> Decimal:
    if low == high:
        return Decimal(low).quantize(CENT)
    return (Decimal(rng.randint(low * 100, high * 100)) / 100).quantize(CENT)


def day_in(rng: random.Random, period: str) -> date:
    first, last = period_bounds(period)
    return first + timedelta(days=rng.randint(0, (last - first).days))


def coprime_stride(rng: random.Random, n: int) -> int:
    if n <= 2:
        return 1
    while True:
        stride = rng.randrange(1, n)
        if gcd(stride, n) == 1:
            return stride


@lru_cache(maxsize=None)
def unit_counties(unit: str) -> tuple[str, ...]:
    """The county-level regions a reporting unit's rows use: its own counties and, for Ili, those of
    塔城地区 and 阿勒泰地区 it reports for."""
    return tuple(sorted(c for c in allowed_region_codes(unit) if not c.endswith("00")))


def region_name(code: str) -> str:
    d = all_divisions().get(code)
    return d.name_zh if d else code


def program_unit(program: str) -> str | None:
    rules = reference_data().programs.get(program)
    return rules.quantity_unit if rules else None


# --- persons -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Person:
    id_number: str
    name: str


_BIRTH_STRIDES = (7919, 7927, 7933, 7937, 7949)
_RETIRED_SLOTS = {unit: i for i, unit in enumerate(sorted(catalog.RETIRED_HOME_CODES))}


@lru_cache(maxsize=4096)
def _pool_shape(seed: int, unit: str, year: int, kind: str) -> tuple[date, int, int, int]:
    """First possible birth date, span in days, stride and shift of a pool: index -> birth date is one to
    one for indices below the span, so two persons of a pool never share an id number."""
    _, youngest, oldest = catalog.POOL_KINDS[kind]
    first = date(year - oldest, 1, 1)
    span = (date(year - youngest, 12, 31) - first).days + 1
    stride = next(s for s in _BIRTH_STRIDES if gcd(s, span) == 1)
    return first, span, stride, rng_for(seed, "birth-shift", unit, year, kind).randrange(span)


def _id(home: str, born: date, seq: int) -> str:
    first17 = f"{home}{born:%Y%m%d}{seq:03d}"
    return first17 + id_numbers.check_digit(first17)


def _name(rng: random.Random, unit: str, female: bool) -> str:
    minority = unit.startswith("15") and rng.random() < 0.3 or unit.startswith("65") and rng.random() < 0.6
    if minority:
        return rng.choice(catalog.MINORITY_NAMES if female else catalog.MINORITY_MALE_NAMES)
    return rng.choice(catalog.SURNAMES) + rng.choice(catalog.GIVEN if female else catalog.MALE_GIVEN)


def person(seed: int, unit: str, year: int, kind: str, index: int) -> Person:
    """The index-th person of a unit's pool of a kind (see catalog.POOL_KINDS) in a year: same index, same
    person, every month of the year. Some adults of Inner Mongolia and Ili carry a retired home code."""
    female_share, youngest, _ = catalog.POOL_KINDS[kind]
    first, span, stride, shift = _pool_shape(seed, unit, year, kind)
    born = first + timedelta(days=(index * stride + shift) % span)
    rng = rng_for(seed, "person", unit, year, kind, index)
    female = rng.random() < female_share
    home = None
    retired = catalog.RETIRED_HOME_CODES.get(unit)
    if retired and youngest >= 19 and rng.random() < catalog.RETIRED_SHARE:
        fits = [code for code, _, last_year in retired if born.year <= last_year]
        if fits:
            home = rng.choice(fits)
            # Retired codes are shared by several units (哲里木盟 by all of Inner Mongolia): a block of
            # sequence numbers per unit keeps two units' persons apart.
            seq = _RETIRED_SLOTS[unit] * 70 + rng.randrange(35) * 2
    if home is None:
        home = rng.choice(unit_counties(unit) or (unit,))
        seq = rng.randrange(500) * 2
    return Person(_id(home, born, seq + (0 if female else 1)), _name(rng, unit, female))


def man_of(woman: Person, rng: random.Random, unit: str) -> Person:
    """The same home and birth date, but a man (odd 17th digit): for the ineligible_beneficiary warning."""
    number = woman.id_number
    digit = int(number[16]) | 1
    return Person(_id(number[:6], date(int(number[6:10]), int(number[10:12]), int(number[12:14])),
                      int(number[14:16] + str(digit))), _name(rng, unit, female=False))


# --- a month --------------------------------------------------------------------------------------

@dataclass
class Ledger:
    """One program's money in one month."""

    program: catalog.ProgramProfile
    n_in: int = 1
    n_transfer: int = 0
    n_spend: int = 1
    cash: Decimal = ZERO  # cash paid to persons this month: spent in a row of its own
    cash_row: bool = True
    in_kind: bool = False
    no_incoming: bool = False
    # Filled by the pre-pass:
    spend_total: Decimal = ZERO
    transfer_total: Decimal = ZERO
    in_kind_in: Decimal = ZERO
    in_kind_out: Decimal = ZERO
    extra: Decimal = ZERO  # spending added so that it outruns incoming (spending_over_incoming)
    incoming: Decimal = ZERO  # cash incoming, split over n_in rows

    @property
    def spending(self) -> Decimal:
        return self.spend_total + (self.cash if self.cash_row else ZERO) + self.in_kind_out + self.extra


@dataclass
class Plan:
    combos: list[tuple[str, str, str]]  # activity rows: (region, program, group), sorted
    counts: dict[tuple[str, str, str], int]  # line-list rows per activity row
    walk: dict[str, tuple[int, int]]  # pool kind -> (offset, stride)
    cash: dict[str, Decimal]  # program -> cash paid to persons
    ledgers: list[Ledger] = field(default_factory=list)
    short_pair: tuple[str, str] | None = None  # (region, program) given fewer person-times than persons
    applied: bool = False  # whether the injection could be made

    @property
    def line(self) -> list[tuple[str, str, str]]:
        return [c for c in self.combos if c in self.counts]


class ReportContent:
    """One prefecture-period report: activity, funds and beneficiaries rows.

    ``inject`` names one warning of INJECTIONS the report draws on purpose; ``deficit_over`` is the slack
    (incoming minus spending) the unit's earlier months of the year left on catalog.DEFICIT_PROGRAM, which
    spending_over_incoming must outrun; ``relief_from`` the earlier month whose first relief recipient
    cash_over_cap pays again."""

    def __init__(self, seed: int, prefecture: str, period: str, rows: int, version: int = 1, inject: str | None = None,
                 deficit_over: Decimal = ZERO, relief_from: str | None = None,
                 person_times_before: dict[tuple[str, str, str], int] | None = None):
        self.seed, self.prefecture, self.period, self.rows, self.version = seed, prefecture, period, rows, version
        self.inject, self.deficit_over, self.relief_from = inject, deficit_over, relief_from
        # Person-times of each activity key in the unit's accepted earlier months of the year; None writes no
        # persons_ytd (a drop made outside the unit's run of months, whose history is not known).
        self.person_times_before = person_times_before
        self.year, self.month0 = int(period[:4]), int(period[5:7]) - 1
        self.regions = list(unit_counties(prefecture)) or [prefecture]
        # Persons are drawn from pools twice the drop's size, so the same women recur across months.
        self.pool = max(rows, 25) * 2
        self._plan: Plan | None = None

    def _rng(self, form: str) -> random.Random:
        return rng_for(self.seed, self.prefecture, self.period, self.version, form)

    # -- the plan --

    @property
    def plan(self) -> Plan:
        if self._plan is None:
            self._plan = self._make_plan()
        return self._plan

    @property
    def injection_applied(self) -> bool:
        return self.inject is not None and self.plan.applied

    def _make_plan(self) -> Plan:
        rng = self._rng("plan")
        combos = [(r, p.code, g) for r in self.regions for p in catalog.PROGRAMS for g in p.groups]
        rng.shuffle(combos)
        chosen = [next(c for c in combos if c[1] == code) for code in catalog.CORE_PROGRAMS[: self.rows]]
        taken = set(chosen)
        chosen += [c for c in combos if c not in taken][: max(0, self.rows - len(chosen))]
        chosen.sort()
        line = [c for c in chosen if catalog.PROGRAM_BY_CODE[c[1]].benefit_type]
        counts = self._split_line_list(line, rng)
        walk = {}
        for kind in sorted(catalog.POOL_KINDS):
            walk[kind] = (rng.randrange(self.pool), coprime_stride(rng, self.pool))
        per_program: dict[str, int] = defaultdict(int)
        for combo, n in counts.items():
            per_program[combo[1]] += n
        cash = {}
        for code, n in per_program.items():
            if catalog.PROGRAM_BY_CODE[code].benefit_type == "CASH" and n:
                amounts, first = self._cash_amounts(code), None
                cash[code] = ZERO
                for _ in range(n):  # a pre-pass over the amounts the line list will pay: no list is kept
                    amount = next(amounts)
                    first = amount if first is None else first
                    cash[code] += amount
                if self.inject == "duplicate_cash_benefit" and code == "SPRING_BUD":
                    cash[code] += first  # the first girl is paid twice
        plan = Plan(chosen, counts, walk, cash)
        plan.applied = self._injection_possible(plan, per_program)
        if plan.applied and self.inject == "persons_exceed_person_times":
            plan.short_pair = next((c[0], c[1]) for c in line if counts.get(c) and c[1] == "TWO_CANCER_SCREEN")
        plan.ledgers = self._ledgers(plan, rng)
        return plan

    def _injection_possible(self, plan: Plan, per_program: dict[str, int]) -> bool:
        need = {"duplicate_cash_benefit": "SPRING_BUD", "ineligible_beneficiary": "TWO_CANCER_SCREEN",
                "persons_exceed_person_times": "TWO_CANCER_SCREEN", "cash_exceeds_spending": catalog.CASH_CAPPED_PROGRAM,
                "cash_over_cap": catalog.CASH_CAPPED_PROGRAM, "spending_over_incoming": None}
        if self.inject is None:
            return False
        program = need[self.inject]
        if self.inject == "cash_over_cap" and (not self.relief_from or self.relief_from[:4] != self.period[:4]):
            return False
        return program is None or per_program.get(program, 0) > 0

    def _split_line_list(self, line: list, rng: random.Random) -> dict:
        """How many line-list rows (distinct persons) each activity row of a line-list program gets."""
        n = self.rows
        if not line:
            return {}
        if n < len(line):
            return {line[i]: 1 for i in sorted(rng.sample(range(len(line)), n))}
        weights = [catalog.PROGRAM_BY_CODE[c[1]].line_weight * rng.uniform(0.5, 1.5) for c in line]
        total, extra = sum(weights), n - len(line)
        shares = [int(extra * w / total) for w in weights]
        for i in sorted(range(len(line)), key=lambda i: -weights[i])[: extra - sum(shares)]:
            shares[i] += 1
        return {c: 1 + s for c, s in zip(line, shares)}

    def _cash_amounts(self, program: str) -> Iterator[Decimal]:
        """The cash paid to each person of a cash program, in line-list order (re-drawn identically)."""
        rng = rng_for(self.seed, self.prefecture, self.period, self.version, "cash", program)
        low, high = catalog.PROGRAM_BY_CODE[program].benefit_yuan
        while True:
            yield Decimal(low if low == high else rng.randrange(low, high + 1, 500)).quantize(CENT)

    def _ledgers(self, plan: Plan, rng: random.Random) -> list[Ledger]:
        counties = self.regions != [self.prefecture]
        required = sorted(set(plan.cash) | ({catalog.DEFICIT_PROGRAM} if self.inject == "spending_over_incoming" else set()))
        others = sorted({c[1] for c in plan.combos} - set(required))
        rng.shuffle(others)
        ledgers, used = [], 0
        for code in required + others:
            if code not in required and used + 2 > self.rows:
                continue
            led = Ledger(catalog.PROGRAM_BY_CODE[code], cash=plan.cash.get(code, ZERO))
            led.n_spend = 0 if led.cash else 1
            led.in_kind = code in catalog.IN_KIND and rng.random() < 0.6
            led.n_transfer = 1 if counties and rng.random() < 0.4 else 0
            ledgers.append(led)
            used += 2 + led.n_transfer
        leftover = self.rows - used
        if leftover > 0 and ledgers:
            weights = [rng.uniform(0.5, 1.5) for _ in ledgers]
            shares = [int(leftover * w / sum(weights)) for w in weights]
            shares[0] += leftover - sum(shares)
            for led, share in zip(ledgers, shares):
                transfers = int(share * 0.15) if counties else 0
                incoming = int(share * 0.3)
                led.n_transfer += transfers
                led.n_in += incoming
                led.n_spend += share - transfers - incoming
        for led in ledgers:
            code = led.program.code
            if plan.applied and self.inject == "cash_exceeds_spending" and code == catalog.CASH_CAPPED_PROGRAM:
                led.cash_row, led.n_spend = False, 0  # cash paid, nothing spent on the program this year yet
            if self.inject == "spending_over_incoming" and code == catalog.DEFICIT_PROGRAM:
                led.no_incoming, led.n_in, led.in_kind, led.n_transfer = True, 0, False, 0
                led.n_spend = max(led.n_spend, 1)
            self._prepass(led)
        return ledgers

    def _ledger_rng(self, what: str, code: str) -> random.Random:
        return rng_for(self.seed, self.prefecture, self.period, self.version, "ledger", what, code)

    def _prepass(self, led: Ledger) -> None:
        code = led.program.code
        led.spend_total = sum((row["amount_yuan"] for row in self._spend_rows(led)), ZERO)
        led.transfer_total = sum((row["amount_yuan"] for row in self._transfer_rows(led)), ZERO)
        if led.in_kind:
            r = self._ledger_rng("in-kind", code)
            led.in_kind_in = money(r, *led.program.fund_yuan)
            led.in_kind_out = (led.in_kind_in * Decimal(r.randint(70, 100)) / 100).quantize(CENT)
        if led.no_incoming:
            if led.spending <= self.deficit_over:
                bump = money(self._ledger_rng("bump", code), 1_000, 5_000)
                led.extra = self.deficit_over - led.spending + bump
            return
        r = self._ledger_rng("incoming", code)
        base = led.spending - led.in_kind_out + led.transfer_total
        factor = Decimal(r.randint(100, 130)) / 100
        led.incoming = (base * factor).quantize(CENT, rounding=ROUND_CEILING) if base else money(r, *led.program.fund_yuan)
        led.incoming = max(led.incoming, Decimal(led.n_in))  # at least a yuan a row

    def _source(self, rng: random.Random, code: str) -> str:
        sources = catalog.SOURCES.get(code, catalog.DEFAULT_SOURCES)
        return rng.choices([s for s, _ in sources], weights=[w for _, w in sources])[0]

    def _spend_rows(self, led: Ledger) -> Iterator[dict]:
        code, (low, high) = led.program.code, led.program.fund_yuan
        rng = self._ledger_rng("spend", code)
        for _ in range(led.n_spend):
            external = rng.random() < 0.35
            yield {
                "region_code": rng.choice(self.regions + [self.prefecture]),
                "program_code": code,
                "fund_source_code": self._source(rng, code),
                "flow_type": "DISBURSEMENT" if external else "EXPENDITURE",
                "amount_yuan": money(rng, max(1, low // 4), max(1, high // 2)),
                "txn_date": day_in(rng, self.period),
                "counterparty": rng.choice(catalog.PARTNERS.get(code, catalog.DEFAULT_PARTNERS) if external else catalog.SUPPLIERS),
                "recipient_region_code": None,  # a partner outside the federation system
                "in_kind": False,
            }

    def _transfer_rows(self, led: Ledger) -> Iterator[dict]:
        code, (low, high) = led.program.code, led.program.fund_yuan
        rng = self._ledger_rng("transfer", code)
        for _ in range(led.n_transfer):
            county = rng.choice(self.regions)
            yield {
                "region_code": self.prefecture,
                "program_code": code,
                "fund_source_code": self._source(rng, code),
                "flow_type": "DISBURSEMENT",
                "amount_yuan": money(rng, max(1, low // 2), max(1, high // 2)),
                "txn_date": day_in(rng, self.period),
                "counterparty": f"{region_name(county)}妇联",
                "recipient_region_code": county,  # an internal transfer: the county reports its own spending
                "in_kind": False,
            }

    def _incoming_rows(self, led: Ledger) -> Iterator[dict]:
        code = led.program.code
        if led.in_kind:
            r = self._ledger_rng("in-kind-row", code)
            source, donors = catalog.IN_KIND[code]
            yield {"region_code": self.prefecture, "program_code": code, "fund_source_code": source, "flow_type": "INCOMING",
                   "amount_yuan": led.in_kind_in, "txn_date": day_in(r, self.period), "counterparty": r.choice(donors),
                   "recipient_region_code": None, "in_kind": True}
        if not led.n_in:
            return
        # Split the incoming total over n_in rows by random weights, drawn twice from the same seed.
        weights = self._ledger_rng("weights", code)
        total_weight = sum(weights.randint(50, 150) for _ in range(led.n_in))
        weights = self._ledger_rng("weights", code)
        rng = self._ledger_rng("incoming-rows", code)
        left = led.incoming
        for i in range(led.n_in):
            w = weights.randint(50, 150)
            amount = left if i == led.n_in - 1 else max(CENT, (led.incoming * w / total_weight).quantize(CENT, rounding=ROUND_FLOOR))
            left -= amount
            source = self._source(rng, code)
            yield {
                "region_code": self.prefecture if rng.random() < 0.8 else rng.choice(self.regions),
                "program_code": code,
                "fund_source_code": source,
                "flow_type": "INCOMING",
                "amount_yuan": amount,
                "txn_date": day_in(rng, self.period),
                "counterparty": rng.choice(catalog.DONORS.get(source, ("其他",))),
                "recipient_region_code": None,
                "in_kind": False,
            }

    def _ledger_rows(self, led: Ledger) -> Iterator[dict]:
        code = led.program.code
        if self.month0 == 0:  # contract v3: what the program held at 1 January, in the January drop only
            rng = self._ledger_rng("opening", code)
            yield {"region_code": self.prefecture, "program_code": code, "fund_source_code": self._source(rng, code),
                   "flow_type": "OPENING_BALANCE", "txn_date": date(self.year, 1, 1), "counterparty": None,
                   "amount_yuan": ZERO if rng.random() < 0.125 else money(rng, 2_000, 60_000),  # a zero is allowed
                   "recipient_region_code": None, "in_kind": False}
        yield from self._incoming_rows(led)
        yield from self._transfer_rows(led)
        rng = self._ledger_rng("cash-row", code)
        if led.cash and led.cash_row:
            _, last = period_bounds(self.period)
            yield {"region_code": self.prefecture, "program_code": code, "fund_source_code": self._source(rng, code),
                   "flow_type": "EXPENDITURE", "amount_yuan": led.cash, "txn_date": last - timedelta(days=rng.randint(0, 5)),
                   "counterparty": "救助金发放到人(见受益人明细)", "recipient_region_code": None, "in_kind": False}
        yield from self._spend_rows(led)
        if led.in_kind_out:
            yield {"region_code": rng.choice(self.regions), "program_code": code, "fund_source_code": catalog.IN_KIND[code][0],
                   "flow_type": "EXPENDITURE", "amount_yuan": led.in_kind_out, "txn_date": day_in(rng, self.period),
                   "counterparty": "受益人(实物发放)", "recipient_region_code": None, "in_kind": True}
        if led.extra:
            yield {"region_code": self.prefecture, "program_code": code, "fund_source_code": "FEDERATION",
                   "flow_type": "EXPENDITURE", "amount_yuan": led.extra, "txn_date": day_in(rng, self.period),
                   "counterparty": "物资采购(垫付)", "recipient_region_code": None, "in_kind": False}

    # -- the forms --

    def activity(self) -> Iterator[dict]:
        rng = self._rng("activity")
        plan = self.plan
        shortened = False
        for region, code, group in plan.combos:
            program = catalog.PROGRAM_BY_CODE[code]
            n = plan.counts.get((region, code, group), 0)
            events = rng.randint(1, 12)
            beneficiaries = max(events * rng.randint(*program.people_per_event), n)
            if plan.short_pair == (region, code):
                beneficiaries = n - (0 if shortened or not n else 1)
                shortened = shortened or n > 0
            yield {
                "region_code": region,
                "program_code": code,
                "beneficiary_group_code": group,
                "events": events,
                "beneficiaries": beneficiaries,
                "volunteers": rng.randint(0, 40),
                "quantity": self._quantity(program, events, beneficiaries, rng),
                "persons_ytd": self._persons_ytd((region, code, group), beneficiaries),
                "remarks": rng.choice(["", "", "联合县妇幼保健院开展", "巾帼志愿者入户走访", "覆盖偏远嘎查村"]),
            }

    def _persons_ytd(self, key: tuple[str, str, str], beneficiaries: int) -> int | None:
        """本年累计受益人数: a fixed share of the key's person-times since January, so it rises month by month and
        never exceeds them. Screening reaches each woman about once a year; training and outreach see the same
        people again."""
        if self.person_times_before is None:
            return None
        person_times = self.person_times_before.get(key, 0) + beneficiaries
        low, high = (0.9, 1.0) if key[1] == "TWO_CANCER_SCREEN" else (0.35, 0.8)
        share = rng_for(self.seed, self.prefecture, self.year, "persons_ytd", *key).uniform(low, high)
        return int(person_times * share)

    @staticmethod
    def _quantity(program: catalog.ProgramProfile, events: int, beneficiaries: int, rng: random.Random) -> int | None:
        """In the program's quantity_unit (parcels, cellars, households…); None for a program without one."""
        if program_unit(program.code) is None:
            return None
        basis, low, high = program.quantity or ("beneficiaries", 1.0, 1.0)
        value = events if basis == "events" else beneficiaries
        return max(1, round(value * rng.uniform(low, high))) if value else 0

    def funds(self) -> Iterator[dict]:
        i = 0
        for led in self.plan.ledgers:
            for row in self._ledger_rows(led):
                i += 1
                incoming = row["flow_type"] == "INCOMING"
                yield {**row, "voucher_no": f"{'收' if incoming else '付'}-{self.period}-{i:06d}"}

    def beneficiaries(self) -> Iterator[dict]:
        rng = self._rng("beneficiaries")
        plan = self.plan
        cash_amounts = {code: self._cash_amounts(code) for code in plan.cash}
        used: dict[str, int] = defaultdict(int)
        first_of: set[str] = set()
        for combo in plan.line:
            region, code, group = combo
            program = catalog.PROGRAM_BY_CODE[code]
            kind = catalog.pool_kind(code, group)
            for _ in range(plan.counts[combo]):
                j = used[kind]
                used[kind] += 1
                if kind == "relief":  # a block of indices per month: no one is paid relief twice a year
                    index = self.month0 * self.rows + j
                else:
                    offset, stride = plan.walk[kind]
                    index = (offset + j * stride) % self.pool  # coprime stride: distinct persons in the drop
                who = person(self.seed, self.prefecture, self.year, kind, index)
                if code in cash_amounts:
                    amount = next(cash_amounts[code])
                else:
                    amount = money(rng, *program.benefit_yuan) if program.benefit_yuan else None
                first = code not in first_of
                first_of.add(code)
                if first and plan.applied:
                    if self.inject == "ineligible_beneficiary" and code == "TWO_CANCER_SCREEN":
                        who = man_of(who, rng, self.prefecture)
                    elif self.inject == "cash_over_cap" and code == catalog.CASH_CAPPED_PROGRAM:
                        who = self.relief_person(self.relief_from)
                row = {
                    "region_code": region,
                    "program_code": code,
                    "beneficiary_group_code": group,
                    "id_number": who.id_number,
                    "name": who.name,
                    "benefit_date": day_in(rng, self.period),
                    "benefit_type": program.benefit_type,
                    "amount_yuan": amount,
                }
                yield row
                if first and plan.applied and self.inject == "duplicate_cash_benefit" and code == "SPRING_BUD":
                    yield dict(row, benefit_date=day_in(rng, self.period))  # the same girl paid again

    def relief_person(self, period: str) -> Person:
        """The first person paid relief in ``period`` (of this drop's year) by this unit."""
        return person(self.seed, self.prefecture, int(period[:4]), "relief", (int(period[5:7]) - 1) * self.rows)

    def form_rows(self, form: str) -> Iterator[dict]:
        return getattr(self, form)()


# --- a year ---------------------------------------------------------------------------------------

def _county_type(code: str) -> str:
    name = region_name(code)
    return "区" if name.endswith("区") else "县级市" if name.endswith("市") else "other"


class AnnualContent:
    """One prefecture-year: targets (given, computed by the generator from the months it wrote), the
    population of each county and group, and, at the year's end, the count of sites and organisations."""

    def __init__(self, seed: int, prefecture: str, year: str, targets: list[dict], version: str = "plan"):
        self.seed, self.prefecture, self.period, self.version = seed, prefecture, year, version
        self._targets = targets
        self.regions = list(unit_counties(prefecture)) or [prefecture]

    def targets(self) -> Iterator[dict]:
        yield from self._targets

    def population(self) -> Iterator[dict]:
        year = int(self.period)
        for county in self.regions:
            rng = rng_for(self.seed, "population", county)
            kind = _county_type(county)
            low, high = {"区": (150_000, 900_000), "县级市": (120_000, 600_000)}.get(kind, (40_000, 450_000))
            growth = Decimal(rng.randint(-8, 12)) / 1000
            total = Decimal(rng.randint(low, high)) * (1 + growth) ** (year - 2020)
            shares = {group: Decimal(rng.randint(int(lo * 1000), int(hi * 1000))) / 1000
                      for group, (lo, hi) in catalog.POPULATION_SHARES.items()}
            women = int(total * shares["WOMEN_ALL"])
            rural_low, rural_high = catalog.RURAL_SHARE[kind]
            values = {group: int(total * share) for group, share in shares.items()}
            values["RURAL_WOMEN"] = int(women * Decimal(rng.randint(int(rural_low * 100), int(rural_high * 100))) / 100)
            for group in ("WOMEN_ALL", "WOMEN_35_64", "RURAL_WOMEN", "LOW_INCOME_WOMEN", "GIRLS_6_18", "CHILDREN_0_17", "HOUSEHOLDS"):
                source = catalog.POPULATION_SOURCES[group]
                yield {"region_code": county, "population_group_code": group, "population": values[group],
                       "source": source if "普查" in source else f"{source}({year - 1}年末)"}

    def sites(self) -> Iterator[dict]:
        for county in self.regions:
            rng = rng_for(self.seed, "sites", self.prefecture, county, self.period)
            for site_type, ((low, high), new_share, (per_low, per_high)) in catalog.SITES.items():
                total = rng.randint(low, high)
                yield {"region_code": county, "site_type_code": site_type, "total": total,
                       "new_this_year": rng.randint(0, int(total * new_share)),
                       "people": round(total * rng.uniform(per_low, per_high))}

    def grassroots(self) -> Iterator[dict]:
        """Townships and villages per county and how many the federation reaches. The unit's first county is
        at 100% on every measure (the seeds' 全覆盖 and 100% claims), Ili's counties on those its federation
        claims; an optional measure is sometimes left empty: unknown, not zero."""
        claimed = catalog.GRASSROOTS_FULLY_COVERED_UNITS.get(self.prefecture, ())
        for i, county in enumerate(c for c in self.regions if not c.endswith("00")):
            sizes = rng_for(self.seed, "grassroots sizes", county)  # the same townships and villages every year
            (t_low, t_high), (v_low, v_high) = catalog.GRASSROOTS_SIZES.get(_county_type(county), catalog.GRASSROOTS_SIZES["other"])
            totals = {"townships": sizes.randint(t_low, t_high), "villages": sizes.randint(v_low, v_high)}
            rng = rng_for(self.seed, "grassroots", self.prefecture, county, self.period)
            row = {"region_code": county, **totals}
            for measure, ((low, high), empty_share) in catalog.GRASSROOTS_SHARES.items():
                total = totals[GRASSROOTS_TOTALS[measure]]
                full = i == 0 or measure in claimed or rng.random() < catalog.GRASSROOTS_FULL_SHARE[measure]
                if not full and empty_share and rng.random() < empty_share:
                    row[measure] = None
                else:
                    row[measure] = total if full else min(total - 1, round(total * rng.uniform(low, high)))
            yield row

    def form_rows(self, form: str) -> Iterator[dict]:
        return getattr(self, form)()


class MixedContent:
    """A monthly report that also carries annual forms: the wrong_period_kind error."""

    def __init__(self, month: ReportContent, year: AnnualContent):
        self.prefecture, self.period = month.prefecture, month.period
        self._month, self._year = month, year

    def form_rows(self, form: str) -> Iterator[dict]:
        return (self._year if FORMS[form].period_kind == YEAR else self._month).form_rows(form)
