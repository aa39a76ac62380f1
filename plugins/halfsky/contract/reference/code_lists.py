"""The contract's code lists, read from the dbt seed files (one source for dbt and validation).

A fix to reference data is a reviewed edit of ``dbt_project/seeds/*.csv``;
after it, a quarantined drop can be replayed and is judged against the new lists.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[4]
CODE_LISTS = ("programs", "beneficiary_groups", "fund_sources", "flow_types", "benefit_types", "indicators",
              "population_groups", "site_types")


def seed_dir() -> Path:
    return Path(os.environ.get("HALFSKY_REFERENCE_DIR", REPO_ROOT / "dbt_project" / "seeds"))


def read_seed(name: str, directory: Path | None = None) -> list[dict[str, str]]:
    path = (directory or seed_dir()) / f"{name}.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@dataclass(frozen=True)
class ReportingUnit:
    prefecture_code: str
    name_zh: str
    province_code: str
    active_from: str  # YYYY-MM
    active_to: str | None

    def expected_in(self, period: str) -> bool:
        return self.active_from <= period and (self.active_to is None or period <= self.active_to)


    def expected_in_year(self, year: str) -> bool:
        """An annual report is expected for a year in which the unit reports any month."""
        return self.active_from[:4] <= year and (self.active_to is None or year <= self.active_to[:4])


@dataclass(frozen=True)
class ProgramRules:
    """What programs.csv says of a program beyond its names (contract v2: units and eligibility)."""

    quantity_unit: str | None
    population_group_code: str | None
    eligible_gender: str | None  # 'F' or None
    age_min: int | None
    age_max: int | None
    cash_cap_per_person_year: Decimal | None
    # Contract v3: every person the program serves is in the line list, so persons may be counted from it.
    line_list_complete: bool = False

    @classmethod
    def from_row(cls, row: dict[str, str]) -> "ProgramRules":
        def text(name):
            return (row.get(name) or "").strip() or None

        def number(name, kind):
            value = text(name)
            return kind(value) if value is not None else None

        return cls(text("quantity_unit"), text("population_group_code"), text("eligible_gender"),
                   number("age_min", int), number("age_max", int), number("cash_cap_per_person_year", Decimal),
                   (text("line_list_complete") or "").lower() == "yes")

    @property
    def has_eligibility(self) -> bool:
        return bool(self.eligible_gender) or self.age_min is not None or self.age_max is not None


# What a population is counted in: households for HOUSEHOLDS, persons for every other group.
POPULATION_GROUP_UNITS = {"HOUSEHOLDS": "户"}


@dataclass(frozen=True)
class ReferenceData:
    codes: dict[str, frozenset[str]]  # code list name -> upper-case codes
    units: dict[str, ReportingUnit]
    programs: dict[str, ProgramRules]
    indicator_units: dict[str, str]  # indicator code -> unit: 元, 人次, 人, 场, or 'program quantity_unit'

    def population_unit(self, group: str) -> str:
        return POPULATION_GROUP_UNITS.get(group, "人")

    @classmethod
    def load(cls, directory: Path | None = None) -> "ReferenceData":
        codes = {}
        for name in CODE_LISTS:
            rows = read_seed(name, directory)
            key = next(iter(rows[0]))
            codes[name] = frozenset(r[key].strip().upper() for r in rows)
        units = {
            r["prefecture_code"]: ReportingUnit(
                r["prefecture_code"], r["name_zh"], r["province_code"], r["active_from"], r["active_to"] or None
            )
            for r in read_seed("reporting_units", directory)
        }
        programs = {r["program_code"].strip().upper(): ProgramRules.from_row(r) for r in read_seed("programs", directory)}
        indicators = {r["indicator_code"].strip().upper(): r["unit"].strip() for r in read_seed("indicators", directory)}
        return cls(codes, units, programs, indicators)


@lru_cache(maxsize=1)
def reference_data() -> ReferenceData:
    return ReferenceData.load()


def unit_label(unit: str) -> str:
    """'650200 克拉玛依市', the name a reporting unit goes by in the grid, alerts, notices and reviews."""
    known = reference_data().units.get(unit)
    return f"{unit} {known.name_zh}" if known else unit

