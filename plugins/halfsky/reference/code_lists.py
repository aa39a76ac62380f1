"""The contract's code lists, read from the dbt seed files (one source for dbt and validation).

A fix to reference data is a reviewed edit of ``dbt_project/seeds/*.csv``;
after it, a quarantined drop can be replayed and is judged against the new lists.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
CODE_LISTS = ("programs", "beneficiary_groups", "fund_sources", "flow_types", "benefit_types")


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


@dataclass(frozen=True)
class ReferenceData:
    codes: dict[str, frozenset[str]]  # code list name -> upper-case codes
    units: dict[str, ReportingUnit]

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
        return cls(codes, units)


@lru_cache(maxsize=1)
def reference_data() -> ReferenceData:
    return ReferenceData.load()

