"""The rows of one prefecture-period report, generated lazily and deterministically.

Rows are canonical Python values (str codes, int counts, Decimal yuan, date);
how they are written to disk (clean or dirty cells, csv/xlsx/json) is the
writers' business. Everything is derived from a seed, so a benchmark can ask for
millions of rows without holding them in memory.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Iterator

from halfsky import id_numbers
from halfsky.periods import period_bounds
from halfsky.reference.divisions import counties_of
from halfsky.sample import catalog

CHILD_GROUPS = {"FEMALE_STUDENTS", "LEFT_BEHIND_CHILDREN", "DISTRESSED_CHILDREN", "ORPHANS"}
CENT = Decimal("0.01")


def rng_for(*parts: object) -> random.Random:
    return random.Random(":".join(map(str, parts)))


def money(rng: random.Random, low: int, high: int) -> Decimal:
    if low == high:
        return Decimal(low).quantize(CENT)
    return (Decimal(rng.randint(low * 100, high * 100)) / 100).quantize(CENT)


def day_in(rng: random.Random, period: str) -> date:
    first, last = period_bounds(period)
    return first + timedelta(days=rng.randint(0, (last - first).days))


@dataclass(frozen=True)
class Person:
    id_number: str
    name: str


def person(seed: int, prefecture: str, index: int, child: bool) -> Person:
    """The index-th person of a prefecture's pool: same index, same person, every month."""
    rng = rng_for(seed, "person", prefecture, child, index)
    home = rng.choice(counties_of(prefecture) or [prefecture])
    born = date(2008, 1, 1) + timedelta(days=rng.randint(0, 3650)) if child else date(1950, 1, 1) + timedelta(days=rng.randint(0, 20000))
    female = rng.random() < (0.6 if child else 0.95)
    seq = rng.randint(0, 499) * 2 + (0 if female else 1)
    first17 = f"{home}{born:%Y%m%d}{seq:03d}"
    number = first17 + id_numbers.check_digit(first17)
    if prefecture.startswith("15") and rng.random() < 0.3 or prefecture.startswith("65") and rng.random() < 0.6:
        name = rng.choice(catalog.MINORITY_NAMES)
    else:
        name = rng.choice(catalog.SURNAMES) + rng.choice(catalog.GIVEN)
    return Person(number, name)


class ReportContent:
    """One prefecture-period report: activity, funds and beneficiaries rows."""

    def __init__(self, seed: int, prefecture: str, period: str, rows: int, version: int = 1):
        self.seed, self.prefecture, self.period, self.rows, self.version = seed, prefecture, period, rows, version
        self.regions = counties_of(prefecture) or [prefecture]
        # Persons are drawn from a pool twice the drop's size, so the same women recur across months.
        self.pool = max(rows, 25) * 2

    def _rng(self, form: str) -> random.Random:
        return rng_for(self.seed, self.prefecture, self.period, self.version, form)

    def activity(self) -> Iterator[dict]:
        rng = self._rng("activity")
        combos = [(r, p, g) for r in self.regions for p in catalog.PROGRAMS for g in p.groups]
        rng.shuffle(combos)
        for region, program, group in sorted(combos[: self.rows], key=lambda c: (c[0], c[1].code, c[2])):
            events = rng.randint(1, 12)
            yield {
                "region_code": region,
                "program_code": program.code,
                "beneficiary_group_code": group,
                "events": events,
                "beneficiaries": events * rng.randint(*program.people_per_event),
                "volunteers": rng.randint(0, 40),
                "remarks": rng.choice(["", "", "联合县妇幼保健院开展", "巾帼志愿者入户走访", "覆盖偏远嘎查村"]),
            }

    def funds(self) -> Iterator[dict]:
        rng = self._rng("funds")
        for i in range(self.rows):
            program = rng.choice(catalog.PROGRAMS)
            flow = rng.choices(["INCOMING", "DISBURSEMENT", "EXPENDITURE"], weights=[4, 3, 3])[0]
            incoming = flow == "INCOMING"
            yield {
                "region_code": rng.choice(self.regions + [self.prefecture]),
                "program_code": program.code,
                "fund_source_code": rng.choice(catalog.FUND_SOURCES_IN) if incoming else rng.choice(["GOV_PREFECTURE", "FEDERATION", "FOUNDATION"]),
                "flow_type": flow,
                "amount_yuan": money(rng, *program.fund_yuan),
                "txn_date": day_in(rng, self.period),
                "voucher_no": f"{'收' if incoming else '付'}-{self.period}-{i + 1:06d}",
                "counterparty": rng.choice(catalog.DONORS if incoming else catalog.RECIPIENTS),
            }

    def beneficiaries(self) -> Iterator[dict]:
        rng = self._rng("beneficiaries")
        benefit_programs = [p for p in catalog.PROGRAMS if p.benefit_type != "SERVICE" or p.code in ("TWO_CANCER_SCREEN", "SKILLS_TRAINING")]
        # A stride coprime to the pool walks distinct persons: no one gets the same benefit twice.
        offset, stride = rng.randrange(self.pool), self._coprime_stride(rng)
        for i in range(self.rows):
            program = rng.choice(benefit_programs)
            group = rng.choice(program.groups)
            who = person(self.seed, self.prefecture, (offset + i * stride) % self.pool, group in CHILD_GROUPS)
            amount = money(rng, *program.benefit_yuan) if program.benefit_yuan else None
            yield {
                "region_code": rng.choice(self.regions),
                "program_code": program.code,
                "beneficiary_group_code": group,
                "id_number": who.id_number,
                "name": who.name,
                "benefit_date": day_in(rng, self.period),
                "benefit_type": program.benefit_type,
                "amount_yuan": amount,
            }

    def _coprime_stride(self, rng: random.Random) -> int:
        from math import gcd

        while True:
            stride = rng.randrange(1, self.pool)
            if gcd(stride, self.pool) == 1:
                return stride

    def form_rows(self, form: str) -> Iterator[dict]:
        return getattr(self, form)()
