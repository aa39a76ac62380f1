"""Contract v3's grassroots form (基层组织覆盖): townships and villages the federation reaches at the year's end.

Small hand-made year-end drops for 2022 (a year no other test file sends annual drops for), each unit with a
drop of its own, through the real pipeline into the real warehouse; the marts are then built by dbt once and
rpt_org_coverage is checked against figures worked out by hand below, Ili's 全州 among them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import psycopg
import pytest

import hostile_drops as hd
from ingest_helpers import AS_OF, ingest_all, verdicts_by_path

YEAR = "2022"
ON_TIME = datetime.fromisoformat("2023-01-20T10:00:00+08:00")  # year-end forms are due 31 January 2023
LATE = datetime.fromisoformat("2023-02-03T10:00:00+08:00")

# The contract's Chinese headers, with ASCII quotes around 两委 as the contract spells them.
ZH = {
    "region_code": "区县代码",
    "townships": "乡镇(街道)数",
    "townships_with_federation": "已建妇联的乡镇(街道)数",
    "villages": "村(社区/嘎查)数",
    "villages_with_federation": "已建妇联的村(社区)数",
    "villages_with_womens_home": "建有妇女之家的村(社区)数",
    "committees_with_women": '"两委"有女性成员的村(社区)数',
    "chairs_in_committee": '妇联主席进"两委"的村(社区)数',
}


def row(region, townships, with_federation, villages, villages_with_federation, home=None, committees=None, chairs=None):
    out = {"region_code": region, "townships": townships, "townships_with_federation": with_federation,
           "villages": villages, "villages_with_federation": villages_with_federation}
    for name, value in (("villages_with_womens_home", home), ("committees_with_women", committees),
                        ("chairs_in_committee", chairs)):
        if value is not None:
            out[name] = value
    return out


def in_chinese(rows, quotes=('"', '"')):
    """The rows with Chinese headers, the quotation marks around 两委 as given (('', '') for none)."""
    left, right = quotes
    return [{ZH[k].replace('"两委"', f"{left}两委{right}"): v for k, v in r.items()} for r in rows]


def doc(unit, **forms):
    return {"prefecture_code": unit, "period": YEAR, "forms": forms}


# Ili at the end of 2022: 州直 654002 伊宁市 and 654021 伊宁县, 塔城 654201 塔城市, 阿勒泰 654301 阿勒泰市.
# An empty optional count is unknown: 伊宁县 says nothing of women's homes or chairs, 阿勒泰市 has no villages.
ILI = [
    row("654002", 10, 10, 100, 100, home=90, committees=100, chairs=100),
    row("654021", 20, 18, 200, 190, committees=150),
    row("654201", 5, 5, 50, 50, home=50, chairs=40),
    row("654301", 8, 8, 0, 0),
]
ILI_SITES = [{"region_code": "654002", "site_type_code": "WOMENS_HOME", "total": 90, "new_this_year": 5}]

ACCEPTED = {
    # key: (unit, name, writer, received)
    "json_ili_with_sites": ("654000", "ili_2022_year_end.json", lambda root, unit, name: hd.write_json(
        root, unit, YEAR, name, doc(unit, sites=ILI_SITES, grassroots=ILI))),
    # 呼和浩特: xlsx, the Chinese sheet name, Chinese headers with full-width quotes “两委”
    "xlsx_fullwidth_quotes": ("150100", "150100_2022.xlsx", lambda root, unit, name: hd.write_xlsx(
        root, unit, YEAR, name, hd.xlsx_bytes(doc(unit, grassroots=in_chinese(
            [row("150102", 8, 8, 60, 60, home=60, committees=60, chairs=60)], ("\u201c", "\u201d"))),
            sheet_names={"grassroots": ["基层组织覆盖"]}))),
    # 包头: a csv folder, Chinese headers with ASCII quotes (the csv module escapes them as "")
    "csv_ascii_quotes": ("150200", "150200_2022", lambda root, unit, name: hd.write_csv_folder(
        root, unit, YEAR, name, {"基层组织覆盖.csv": in_chinese([row("150202", 6, 5, 40, 30, committees=20)])})),
    # 乌海: a csv folder, headers without any quotes
    "csv_no_quotes": ("150300", "150300_2022", lambda root, unit, name: hd.write_csv_folder(
        root, unit, YEAR, name, {"grassroots.csv": in_chinese([row("150302", 4, 4, 30, 30, chairs=25)], ("", ""))})),
    # 赤峰: json keys in Chinese with full-width ＂ (U+FF02), sent late (after 31 January of the next year)
    "json_late": ("150400", "150400_2022.json", lambda root, unit, name: hd.write_json(
        root, unit, YEAR, name, doc(unit, grassroots=in_chinese([row("150402", 3, 3, 20, 20)], ("\uff02", "\uff02"))))),
}

REJECTED = {
    # key: (rule, unit, name, writer)
    "exceeds_total_json": ("exceeds_total", "150500", "more_federations_than_townships.json", lambda root, unit, name: hd.write_json(
        root, unit, YEAR, name, doc(unit, grassroots=[row("150502", 10, 11, 100, 100)]))),
    "exceeds_total_xlsx": ("exceeds_total", "150600", "150600_2022.xlsx", lambda root, unit, name: hd.write_xlsx(
        root, unit, YEAR, name, hd.xlsx_bytes(doc(unit, grassroots=in_chinese(
            [row("150602", 10, 10, 100, 100, chairs=101)], ("\u201c", "\u201d"))), sheet_names={"grassroots": ["基层组织覆盖"]}))),
    "exceeds_total_csv": ("exceeds_total", "150700", "150700_2022", lambda root, unit, name: hd.write_csv_folder(
        root, unit, YEAR, name, {"grassroots.csv": in_chinese([row("150702", 10, 10, 100, 100, home=120)], ("", ""))})),
    "not_a_county_json": ("not_a_county", "150800", "prefecture_row.json", lambda root, unit, name: hd.write_json(
        root, unit, YEAR, name, doc(unit, grassroots=[row("150800", 10, 10, 100, 100)]))),
    "not_a_county_csv": ("not_a_county", "654000", "ili_whole_as_a_row", lambda root, unit, name: hd.write_csv_folder(
        root, unit, YEAR, name, {"grassroots.csv": [row("654200", 10, 10, 100, 100)]})),
}


def _arrived(path, when):
    """A drop received at ``when``: a csv folder by its files too (the pipeline looks at the newest)."""
    for part in sorted(path.rglob("*")) if path.is_dir() else ():
        hd.arrived(part, when)
    return hd.arrived(path, when)


@pytest.fixture(scope="module")
def drops(dimensions, tmp_path_factory):
    root = tmp_path_factory.mktemp("grassroots") / "landing"
    rel = {}
    for key, (unit, name, write) in ACCEPTED.items():
        rel[key] = write(root, unit, name)
        _arrived(rel[key], LATE if key == "json_late" else ON_TIME)
    for key, (_, unit, name, write) in REJECTED.items():
        # Ili's rejected drop arrives before its accepted one, so the accepted one is the newest
        rel[key] = _arrived(write(root, unit, name), datetime.fromisoformat("2023-01-10T10:00:00+08:00"))
    ingest_all(dimensions, root, root.parent / "quarantine", as_of=AS_OF)
    rel = {key: str(path.relative_to(root)) for key, path in rel.items()}
    by_path = verdicts_by_path(dimensions, list(rel.values()))
    return {"dsn": dimensions, "paths": rel, **{key: by_path[path] for key, path in rel.items()}}


@pytest.mark.parametrize("key", sorted(set(ACCEPTED) - {"json_late"}))
def test_a_grassroots_form_is_accepted_in_every_format_with_or_without_quotes_around_liangwei(drops, key):
    assert drops[key] == ("accepted", [])


def test_a_year_end_drop_holding_only_grassroots_is_due_with_sites_31_january_of_the_next_year(drops):
    assert drops["json_late"] == ("accepted", ["late_drop:"])


@pytest.mark.parametrize("key", sorted(REJECTED))
def test_each_grassroots_rule_alone_rejects_the_drop(drops, key):
    rule = REJECTED[key][0]
    status, findings = drops[key]
    assert status == "rejected"
    assert {f.split(":")[0] for f in findings} == {rule}


def test_exceeds_total_names_the_count_that_is_over(drops):
    assert drops["exceeds_total_json"][1] == ["exceeds_total:townships_with_federation"]
    assert drops["exceeds_total_xlsx"][1] == ["exceeds_total:chairs_in_committee"]
    assert drops["exceeds_total_csv"][1] == ["exceeds_total:villages_with_womens_home"]


def test_the_rejection_says_it_in_chinese_and_english(drops):
    with psycopg.connect(drops["dsn"]) as conn:
        (reasons,) = conn.execute("select reasons from ingest.submissions where drop_path = %s",
                                  (drops["paths"]["not_a_county_json"],)).fetchone()
    assert reasons == [{"rule": "not_a_county", "severity": "error", "count": 1,
                        "zh": "基层组织覆盖表每行须为一个县级区划（区、县、旗、县级市等），不能填地市或省",
                        "en": "A grassroots row must be a county-level region (district, county, banner, county-level city…), "
                              "not a prefecture or province"}]


def test_an_empty_optional_count_is_unknown_not_zero(drops):
    with psycopg.connect(drops["dsn"]) as conn:
        rows = {r[0]: r[1:] for r in conn.execute(
            """select region_code, villages_with_womens_home, committees_with_women, chairs_in_committee
               from raw.grassroots join ingest.submissions using (submission_id) where drop_path = %s""",
            (drops["paths"]["json_ili_with_sites"],))}
        quoted = conn.execute(
            """select committees_with_women, chairs_in_committee from raw.grassroots join ingest.submissions using (submission_id)
               where drop_path = any(%s) order by region_code""",
            ([drops["paths"][k] for k in ("xlsx_fullwidth_quotes", "csv_ascii_quotes", "csv_no_quotes")],)).fetchall()
    assert rows["654021"] == (None, 150, None)
    assert rows["654301"] == (None, None, None)
    # each header, quoted or not, reached its field
    assert quoted == [(60, 60), (20, None), (None, 25)]


def test_the_suite_checks_every_count_against_the_total_the_form_names():
    from halfsky.contract.forms import GRASSROOTS_TOTALS
    from halfsky.ingest.judging.gx_validation import load_suite_documents

    pairs = {e["kwargs"]["column_B"]: e["kwargs"]["column_A"] for e in load_suite_documents()["grassroots"]["expectations"]
             if e["meta"]["rule"] == "exceeds_total"}
    assert pairs == GRASSROOTS_TOTALS


@pytest.fixture(scope="module")
def marts(drops):
    from halfsky.orchestration import pipeline
    pipeline.build_marts(AS_OF, drops["dsn"])
    return drops["dsn"]


def _coverage(dsn, region_level, region_code):
    with psycopg.connect(dsn) as conn:
        return {r[0]: r[1:] for r in conn.execute(
            """select measure, covered, total, coverage_rate, is_fully_covered, counties, counties_fully_covered
               from marts.rpt_org_coverage where year = 2022 and region_level = %s and region_code = %s""",
            (region_level, region_code))}


def test_fct_grassroots_holds_the_newest_accepted_drop_per_county(marts):
    with psycopg.connect(marts) as conn:
        rows = {r[0]: r[1:] for r in conn.execute(
            """select r.region_code, f.townships, f.townships_with_federation, f.villages, f.villages_with_federation,
                      f.villages_with_womens_home, f.committees_with_women, f.chairs_in_committee
               from marts.fct_grassroots f join marts.dim_region r using (region_key) where f.year = 2022""")}
    assert rows["654021"] == (20, 18, 200, 190, None, 150, None)
    assert set(rows) == {"654002", "654021", "654201", "654301", "150102", "150202", "150302", "150402"}


def test_a_county_row_is_its_own_figures(marts):
    yining_city = _coverage(marts, "county", "654002")
    assert yining_city["townships_with_federation"] == (10, 10, Decimal("1.0000"), True, 1, 1)
    assert yining_city["villages_with_womens_home"] == (90, 100, Decimal("0.9000"), False, 1, 0)
    assert "villages_with_womens_home" not in _coverage(marts, "county", "654021")  # not reported: no row, not 0%
    # no villages: the rate is null and it is not "fully covered"
    assert _coverage(marts, "county", "654301")["villages_with_federation"] == (0, 0, None, False, 1, 0)


def test_ili_zhouzhi_tacheng_and_altay_are_prefectures_and_quanzhou_is_their_sum(marts):
    zhouzhi = _coverage(marts, "prefecture", "654000")  # 伊宁市 + 伊宁县
    assert zhouzhi["townships_with_federation"] == (28, 30, Decimal("0.9333"), False, 2, 1)
    assert zhouzhi["villages_with_federation"] == (290, 300, Decimal("0.9667"), False, 2, 1)
    assert zhouzhi["villages_with_womens_home"] == (90, 100, Decimal("0.9000"), False, 1, 0)
    assert zhouzhi["committees_with_women"] == (250, 300, Decimal("0.8333"), False, 2, 1)
    assert zhouzhi["chairs_in_committee"] == (100, 100, Decimal("1.0000"), True, 1, 1)
    tacheng = _coverage(marts, "prefecture", "654200")
    assert tacheng["villages_with_womens_home"] == (50, 50, Decimal("1.0000"), True, 1, 1)
    assert tacheng["chairs_in_committee"] == (40, 50, Decimal("0.8000"), False, 1, 0)
    assert "committees_with_women" not in tacheng
    altay = _coverage(marts, "prefecture", "654300")
    assert altay["townships_with_federation"] == (8, 8, Decimal("1.0000"), True, 1, 1)
    quanzhou = _coverage(marts, "reporting_unit", "654000")
    assert quanzhou == {
        "townships_with_federation": (41, 43, Decimal("0.9535"), False, 4, 3),
        "villages_with_federation": (340, 350, Decimal("0.9714"), False, 4, 2),
        "villages_with_womens_home": (140, 150, Decimal("0.9333"), False, 2, 1),
        "committees_with_women": (250, 300, Decimal("0.8333"), False, 2, 1),
        "chairs_in_committee": (140, 150, Decimal("0.9333"), False, 2, 1),
    }
    for measure, (covered, total, *_rest, counties, full) in quanzhou.items():
        parts = [_coverage(marts, "prefecture", code).get(measure) for code in ("654000", "654200", "654300")]
        parts = [p for p in parts if p]
        assert (covered, total, counties, full) == (sum(p[0] for p in parts), sum(p[1] for p in parts),
                                                    sum(p[4] for p in parts), sum(p[5] for p in parts))
    assert _coverage(marts, "province", "650000") == quanzhou


def test_inner_mongolia_rolls_up_its_units(marts):
    # 呼和浩特 150102 8/8 townships, 包头 150202 5/6, 乌海 150302 4/4, 赤峰 150402 3/3
    province = _coverage(marts, "province", "150000")
    assert province["townships_with_federation"] == (20, 21, Decimal("0.9524"), False, 4, 3)
    assert province["committees_with_women"] == (80, 100, Decimal("0.8000"), False, 2, 1)
    assert _coverage(marts, "reporting_unit", "150100")["chairs_in_committee"] == (60, 60, Decimal("1.0000"), True, 1, 1)


def test_the_marts_describe_the_new_columns_in_chinese_and_english(marts):
    with psycopg.connect(marts) as conn:
        comments = dict(conn.execute(
            """select a.attname, col_description(a.attrelid, a.attnum) from pg_attribute a
               where a.attrelid = 'marts.rpt_org_coverage'::regclass and a.attnum > 0""").fetchall())
        table = conn.execute("select obj_description('marts.fct_grassroots'::regclass)").fetchone()[0]
    assert "全覆盖县区数" in comments["counties_fully_covered"] and "100%" in comments["counties_fully_covered"]
    assert table.startswith("基层组织覆盖事实") and "Townships" in table


def test_the_year_end_report_is_complete_with_grassroots_alone(marts):
    with psycopg.connect(marts) as conn:
        rows = {(r[0], r[1]): r[2:] for r in conn.execute(
            """select report, prefecture_code, status, on_time from marts.rpt_reporting_completeness
               where period = '2022' and prefecture_code in ('654000', '150100', '150400')""")}
    assert rows[("annual_year_end", "150100")] == ("accepted", True)
    assert rows[("annual_year_end", "150400")] == ("accepted", False)  # sent 3 February 2023
    assert rows[("annual_plan", "150100")] == ("missing", False)  # grassroots is no plan
    assert rows[("annual_year_end", "654000")] == ("accepted", True)


def test_the_night_digest_counts_a_grassroots_drop_as_the_year_end_report(marts):
    from halfsky.orchestration.night_digest_queries import ANNUAL_PLAN, ANNUAL_YEAR_END, night_digest

    digest = night_digest(marts, "no-such-run", AS_OF)
    missing = {(m.unit_code, m.report) for m in digest.missing if m.period == YEAR}
    assert ("150100", ANNUAL_YEAR_END) not in missing and ("150400", ANNUAL_YEAR_END) not in missing
    assert ("150100", ANNUAL_PLAN) in missing
    assert ("150500", ANNUAL_YEAR_END) in missing  # its one drop was rejected
