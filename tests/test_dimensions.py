"""The dimensions dbt builds hold every contract code and every county of each reporting unit."""

from __future__ import annotations

import csv
import filecmp

import psycopg
import pytest

from conftest import REPO_ROOT, SHARED_CODES
from halfsky.reference.divisions import adcodes_path

SEEDS = REPO_ROOT / "dbt_project" / "seeds"
CODE_DIMENSIONS = {
    "programs": ("dim_program", "program_code"),
    "beneficiary_groups": ("dim_beneficiary_group", "beneficiary_group_code"),
    "fund_sources": ("dim_fund_source", "fund_source_code"),
}


def _codes(path, column):
    with path.open(encoding="utf-8") as fh:
        return {row[column] for row in csv.DictReader(fh)}


@pytest.mark.skipif(not SHARED_CODES.exists(), reason="no ../shared/contract beside this checkout")
def test_seed_files_are_the_contract_code_lists():
    for contract_file in SHARED_CODES.glob("*.csv"):
        assert filecmp.cmp(contract_file, SEEDS / contract_file.name, shallow=False), contract_file.name


@pytest.mark.parametrize("seed", sorted(CODE_DIMENSIONS))
def test_every_code_is_in_its_dimension_with_an_unknown_member(dimensions, seed):
    table, column = CODE_DIMENSIONS[seed]
    with psycopg.connect(dimensions) as conn:
        in_dim = {r[0] for r in conn.execute(f"select {column} from marts.{table}")}
        unknown = conn.execute(f"select count(*) from marts.{table} where {table.removeprefix('dim_')}_key = '-1'").fetchone()[0]
    assert in_dim == _codes(SEEDS / f"{seed}.csv", column) | {"UNKNOWN"}
    assert unknown == 1


def test_every_county_of_each_reporting_unit_is_in_dim_region(dimensions):
    # Read the national list straight from the package's file, not through halfsky's parser.
    with adcodes_path().open(encoding="utf-8") as fh:
        national = {row["adcode"][:6]: row for row in csv.DictReader(fh)}
    units = _codes(SEEDS / "reporting_units.csv", "prefecture_code")
    with psycopg.connect(dimensions) as conn:
        rows = conn.execute("select region_code, level, prefecture_code, province_name_zh, longitude from marts.dim_region").fetchall()
    by_code = {r[0]: r for r in rows}
    for unit in units:
        counties = {c for c in national if c[:4] == unit[:4] and c[4:] != "00"}
        assert counties, unit
        for county in counties:
            assert by_code[county][1] == "county" and by_code[county][2] == unit, county
        assert by_code[unit][1] == "prefecture"
    assert by_code["654000"][3] == "新疆维吾尔自治区"
    assert by_code["-1" if "-1" in by_code else "000000"][1] == "unknown"
    assert len([r for r in rows if r[1] == "province"]) >= 31


def test_dim_date_covers_the_reporting_years(dimensions):
    with psycopg.connect(dimensions) as conn:
        first, last, days = conn.execute(
            "select min(date), max(date), count(*) filter (where date_key > 0) from marts.dim_date").fetchone()
        sample = conn.execute("select year, quarter, month, period from marts.dim_date where date_key = 20260930").fetchone()
    assert str(first) == "2020-01-01" and str(last) == "2035-12-31"
    assert days == (last - first).days + 1
    assert sample == (2026, 3, 9, "2026-09")
