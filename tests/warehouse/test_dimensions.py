"""The dimensions dbt builds hold every contract code and every county of each reporting unit;
regions are real divisions with their reporting unit, and every id number has a current home region."""

from __future__ import annotations

import csv
import filecmp
import time

import psycopg
import pytest

from conftest import REPO_ROOT, SHARED_CODES
from halfsky.orchestration import pipeline
from halfsky.warehouse.dbt_runner import person_key_options, run_dbt
from halfsky.contract.reference.code_history import RECODED, SAME_CODE, VIA_COUNTIES, VIA_PARENT, HomeRegion, home_regions
from halfsky.contract.reference.divisions import adcodes_path, all_divisions, allowed_region_codes, counties_of, regions_reported_by
from halfsky.contract.reference.gb2260_revisions import ever_listed, revisions

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


def _regions(dsn, *codes):
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select region_code, level, prefecture_code, county_type, reporting_unit_code, reporting_unit_name_zh"
            " from marts.dim_region where region_code = any(%s)", (list(codes),)).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_dim_region_holds_real_divisions_each_under_a_real_prefecture(dimensions):
    with psycopg.connect(dimensions) as conn:
        codes = {r[0] for r in conn.execute("select region_code from marts.dim_region")}
        misplaced = conn.execute(
            """select c.region_code, c.prefecture_code, p.level from marts.dim_region c
               left join marts.dim_region p on p.region_code = c.prefecture_code
               where c.level = 'county' and c.prefecture_code is not null and p.level is distinct from 'prefecture'""").fetchall()
    with adcodes_path().open(encoding="utf-8") as fh:
        listed = {row["adcode"][:6] for row in csv.DictReader(fh)}
    # Not divisions: a border strip, the sea, a "directly under Macau" grouping, 国家级新区 and a 工业园区.
    assert listed - codes == {"990000", "999900", "820010", "133100", "500157", "320576"}
    assert misplaced == []
    # Macau's parishes (8200xx) are directly under the SAR: no prefecture, never the province 820000.
    assert {r[1] for r in _regions(dimensions, "820001", "820008").values()} == {None}
    assert _regions(dimensions, "429004")["429004"][1] is None  # 仙桃市, directly under Hubei
    assert _regions(dimensions, "110101")["110101"][1] == "110100"  # Beijing's districts: the city's own level


def test_county_types(dimensions):
    expected = {"150121": "旗", "150125": "县", "654002": "县级市", "150102": "区", "150722": "自治旗",
                "429021": "林区", "610103": "区", "520203": "特区", "654022": "自治县"}
    regions = _regions(dimensions, *expected, "150100", "150000")
    assert {code: regions[code][2] for code in expected} == expected
    assert regions["150100"][2] is None and regions["150000"][2] is None


def test_reporting_unit_is_the_prefecture_or_the_override(dimensions):
    regions = _regions(dimensions, "654201", "654300", "654002", "150102", "150100", "150000")
    assert regions["654201"][3:] == ("654000", "伊犁哈萨克自治州")
    assert regions["654300"][3] == regions["654002"][3] == "654000"
    assert regions["654300"][1] == "654300"  # the official parent stays: 州直 and 全州 are both answerable
    assert regions["150102"][3] == regions["150100"][3] == "150100"
    assert regions["150000"][3] is None


def test_allowed_region_codes_follow_the_reporting_unit():
    ili = allowed_region_codes("654000")
    assert {"654000", "654002", "654200", "654226", "654300", "654301"} <= ili
    assert set(regions_reported_by("654000")) | set(counties_of("654000")) | {"654000"} == ili
    hohhot = allowed_region_codes("150100")
    assert "150102" in hohhot and not hohhot & {"654200", "654226", "654301", "150500"}


def test_retired_issuing_codes_resolve_to_current_divisions():
    regions = home_regions()
    assert regions["152300"] == HomeRegion("152300", "150500", "prefecture", VIA_COUNTIES)  # 哲里木盟 → 通辽市
    assert regions["654100"].region_code == "654000"  # 伊犁地区
    assert regions["654101"] == HomeRegion("654101", "654002", "county", RECODED)  # 伊宁市 of 伊犁地区
    assert regions["654121"].region_code == "654021"  # 伊宁县
    assert regions["510221"] == HomeRegion("510221", "500115", "county", RECODED)  # 长寿县 of Sichuan, Chongqing's since 1997
    assert regions["442122"].region_code == "469005"  # 文昌县 of Guangdong, Hainan's since 1988
    assert regions["130106"] == HomeRegion("130106", "130100", "prefecture", VIA_PARENT)  # 石家庄's old 郊区
    assert regions["150102"] == HomeRegion("150102", "150102", "county", SAME_CODE)
    current = all_divisions()
    assert all(r.region_code in current and current[r.region_code].level == r.level for r in regions.values())


def test_home_regions_build_fast():
    for cached in (home_regions, all_divisions, revisions, ever_listed):
        cached.cache_clear()
    started = time.perf_counter()
    home_regions()
    assert time.perf_counter() - started < 3


def test_int_persons_resolves_every_home_region_to_a_current_division(dimensions):
    key = b"test-only person key"
    # With its unit test; cautious: leave out the tests that also read the facts. Rebuilding the division view
    # drops its dependent views (dbt drops the old view with cascade): the reference views are rebuilt with it,
    # or a later test that clones this warehouse and builds the marts finds no int_region_rollup.
    run_dbt(["build", "--select", "+int_persons", *pipeline.REFERENCE_VIEWS, "--indirect-selection", "cautious"],
            dsn=dimensions,
            extra_env=person_key_options(key))
    ids = {"152300197001010021": ("150500", "prefecture"), "654101199001010024": ("654002", "county"),
           "150102198512310011": ("150102", "county"), "159999198001010011": ("150000", "province"),
           "999999198001010011": ("000000", "unknown")}
    with psycopg.connect(dimensions) as conn:  # rolled back: nothing stays behind
        assert conn.execute("select to_regclass('intermediate.int_region_rollup')").fetchone()[0], \
            "the shared warehouse keeps its reference views"
        conn.execute(f"set local halfsky.person_key = '{key.hex()}'")
        (submission,), = conn.execute(
            """insert into ingest.submissions (prefecture_code, period, drop_name, drop_path, format, size_bytes,
                   received_at, first_seen_at, status)
               values ('150100', '2026-09', 'x.json', '150100/2026-09/x.json', 'json', 1, now(), now(), 'accepted')
               returning submission_id""").fetchall()
        with conn.cursor().copy("copy raw.beneficiaries (submission_id, row_number, period, id_number) from stdin") as copy:
            for row_number, id_number in enumerate(ids, 1):
                copy.write_row((submission, row_number, "2026-09", id_number))
        found = {r[0]: (r[1], r[2]) for r in conn.execute(
            "select id_number, home_region_code, home_region_level from intermediate.int_persons")}
        dangling = conn.execute(
            """select count(*) from intermediate.int_persons p
               where not exists (select 1 from marts.dim_region r where r.region_code = p.home_region_code)""").fetchone()[0]
        conn.rollback()
    assert {k: v for k, v in found.items() if k in ids} == ids  # other test files may share this warehouse
    assert dangling == 0


def test_rebuilding_a_view_alone_keeps_the_views_built_on_it(dimensions):
    """Views are replaced in place: building the division view alone leaves int_region_rollup, and every
    other view on it, standing (dbt's default would drop them with cascade)."""
    def views() -> set[str]:
        with psycopg.connect(dimensions) as conn:
            return {r[0] for r in conn.execute(
                "select schemaname || '.' || viewname from pg_views where schemaname in ('staging', 'intermediate', 'marts')")}

    before = views()
    assert "intermediate.int_region_rollup" in before
    run_dbt(["run", "--select", "stg_reference__admin_divisions"], dsn=dimensions)
    assert views() == before


def test_dim_program_says_whose_line_list_counts_persons(dimensions):
    # contract v3: programs.csv's line_list_complete, a boolean in the dimension (false for the unknown member)
    with psycopg.connect(dimensions) as conn:
        complete = {r[0] for r in conn.execute("select program_code from marts.dim_program where line_list_complete")}
        age_max = conn.execute("select age_max from marts.dim_program where program_code = 'SPRING_BUD'").fetchone()[0]
    assert complete == _codes_where(SEEDS / "programs.csv", "program_code", "line_list_complete", "yes")
    assert complete == {"TWO_CANCER_RELIEF", "SPRING_BUD"}
    assert age_max == 18


def _codes_where(path, column, flag, value):
    with path.open(encoding="utf-8") as fh:
        return {row[column] for row in csv.DictReader(fh) if row[flag] == value}
