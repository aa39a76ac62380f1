"""Contract v3, one figure at a time: persons reached this year (persons_ytd) and its two warnings, coverage that
is never a rate of a sample, and comparisons that know their months.

Hand-made drops of 锡林郭勒盟 (152500) in 2022 and 2023, which no other test file uses, through the real pipeline
into the real warehouse; the marts are built by dbt once and checked against numbers worked out by hand below.
February 2023 is never sent, so a year-over-year change that crosses it must be null, not a decline.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import psycopg
import pytest

import hostile_drops as hd
from ingest_helpers import AS_OF, ingest_all, verdicts_by_path

UNIT, ERENHOT, XILINHOT = "152500", "152501", "152502"  # 锡林郭勒盟, 二连浩特市, 锡林浩特市
GIRL_15 = hd.id_number("15250120080101002")  # born 2008, 17th digit even: a girl of 15 in 2023
GIRL_14 = hd.id_number("15250120090202004")
NOTED_ID = hd.id_number("15070219850101002")


def activity(region, program, beneficiaries, group, persons_ytd=None):
    row = {"region_code": region, "program_code": program, "beneficiary_group_code": group, "beneficiaries": beneficiaries}
    if persons_ytd is not None:
        row["persons_ytd"] = persons_ytd
    return row


def month(period, *rows, beneficiaries=()):
    forms = {"activity": list(rows)}
    if beneficiaries:
        forms["beneficiaries"] = list(beneficiaries)
    return {"prefecture_code": UNIT, "period": period, "forms": forms}


def legal_aid(beneficiaries, persons_ytd=None):
    return activity(XILINHOT, "LEGAL_AID", beneficiaries, "GENERAL_PUBLIC", persons_ytd)


DROPS = {
    "2022-01": month("2022-01", legal_aid(100)),
    "2022-02": month("2022-02", legal_aid(100)),
    "2022-03": month("2022-03", legal_aid(100)),
    # Screening: rural women 300 persons by January, 900 by March; urban women 200 in January only.
    "2023-01": month("2023-01", legal_aid(100, "80人"),
                     activity(XILINHOT, "TWO_CANCER_SCREEN", 320, "RURAL_WOMEN", 300),
                     activity(XILINHOT, "TWO_CANCER_SCREEN", 250, "URBAN_WOMEN", 200)),
    # No February drop. March: legal aid's running count falls from 80 to 70.
    "2023-03": month("2023-03", legal_aid(100, 70),
                     activity(XILINHOT, "TWO_CANCER_SCREEN", 700, "RURAL_WOMEN", 900)),
    # April: 500 persons against 100 + 100 + 10 person-times since January; two Spring Bud girls paid.
    "2023-04": month("2023-04", legal_aid(10, 500),
                     activity(ERENHOT, "SPRING_BUD", 2, "FEMALE_STUDENTS"),
                     beneficiaries=[
                         {"region_code": ERENHOT, "program_code": "SPRING_BUD", "beneficiary_group_code": "FEMALE_STUDENTS",
                          "id_number": girl, "name": "测试", "benefit_date": "2023-04-10", "benefit_type": "CASH",
                          "amount_yuan": 1000} for girl in (GIRL_15, GIRL_14)]),
    "2023": {"prefecture_code": UNIT, "period": "2023", "forms": {"population": [
        {"region_code": XILINHOT, "population_group_code": "WOMEN_35_64", "population": 10000},
        {"region_code": ERENHOT, "population_group_code": "GIRLS_6_18", "population": 5000},
        {"region_code": ERENHOT, "population_group_code": "WOMEN_35_64", "population": 4000}]}},
}


@pytest.fixture(scope="module")
def v3(dimensions, tmp_path_factory):
    root = tmp_path_factory.mktemp("v3") / "landing"
    rel = {}
    for period, document in DROPS.items():
        when = datetime.fromisoformat(f"{period}-28T10:00:00+08:00" if len(period) == 7 else f"{period}-01-20T10:00:00+08:00")
        rel[period] = str(hd.write_json(root, UNIT, period, f"{period}.json", document).relative_to(root))
        hd.arrived(root / rel[period], when)
    # 呼伦贝尔 (150700) explains a csv folder in its manifest, naming a woman by her id number.
    notes = {"submitted_by": "统计科", "notes": f"含王秀英（{NOTED_ID}）补报的3月数据"}
    folder = hd.write_csv_folder(root, "150700", "2023-06", f"王秀英_{NOTED_ID}_补报", {
        "activity.csv": [{"region_code": "150702", "program_code": "LEGAL_AID", "beneficiary_group_code": "GENERAL_PUBLIC",
                          "beneficiaries": 10, "remarks": f"入户走访 {NOTED_ID}"}],
        "manifest.json": json.dumps(notes, ensure_ascii=False).encode("utf-8")})
    for path in (*folder.iterdir(), folder):  # a folder drop arrives when its files did
        hd.arrived(path, datetime.fromisoformat("2023-07-05T10:00:00+08:00"))
    rel["noted"] = str(folder.relative_to(root))
    # persons_ytd in a csv under its Chinese header, and in a workbook under its English one
    chinese = "区县代码,项目代码,受益群体,受益人次,本年累计受益人数（人）\n150702,LEGAL_AID,GENERAL_PUBLIC,30,25人\n"
    csv_drop = hd.write_csv_folder(root, "150700", "2023-07", "persons_ytd_zh", {"activity.csv": chinese.encode("gb18030")})
    workbook = hd.xlsx_bytes({"forms": {"activity": [dict(legal_aid(40, 31), region_code="150702")]}})
    xlsx_drop = hd.write_xlsx(root, "150700", "2023-08", "persons_ytd_en.xlsx", workbook)
    for key, drop, when in (("ytd_csv", csv_drop, "2023-08-05"), ("ytd_xlsx", xlsx_drop, "2023-09-05")):
        for path in (*(drop.iterdir() if drop.is_dir() else ()), drop):
            hd.arrived(path, datetime.fromisoformat(f"{when}T10:00:00+08:00"))
        rel[key] = str(drop.relative_to(root))
    ingest_all(dimensions, root, root.parent / "quarantine", as_of=AS_OF)
    by_path = verdicts_by_path(dimensions, list(rel.values()))
    from halfsky.orchestration import pipeline
    pipeline.build_marts(AS_OF, dimensions)
    return {"dsn": dimensions, "paths": rel, **{period: by_path[path] for period, path in rel.items()}}


def _rules(verdict) -> set[str]:
    return {finding.split(":")[0] for finding in verdict[1]}


def _rows(dsn: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def test_every_drop_is_accepted_and_a_steady_running_count_warns_nothing(v3):
    assert {period: v3[period][0] for period in DROPS} == dict.fromkeys(DROPS, "accepted")
    assert v3["noted"] == ("accepted", [])
    assert v3["2023-01"] == ("accepted", [])


def test_a_running_count_that_falls_is_warned_against_the_latest_earlier_month(v3):
    assert v3["2023-03"] == ("accepted", ["ytd_decreased:persons_ytd"])


def test_more_persons_than_person_times_since_january_is_warned(v3):
    assert "persons_exceed_person_times_ytd" in _rules(v3["2023-04"])
    assert "ytd_decreased" not in _rules(v3["2023-04"])


def test_coverage_takes_the_newest_month_of_each_key_added_over_groups(v3):
    rows = _rows(v3["dsn"], """select region_level, region_code, persons_reached, population, coverage_rate, numerator_source,
                                      as_of_period, months_reported, months_reported_prior_year
                               from marts.rpt_coverage where year = 2023 and program_code = 'TWO_CANCER_SCREEN'
                               order by 1, 2""")
    by_key = {(r[0], r[1]): r[2:] for r in rows}
    # 900 rural women (March) + 200 urban women (January): never 320 + 250 + 700 person-times, nor a sum of months
    assert by_key[("county", XILINHOT)] == (1100, 10000, Decimal("0.110000"), "persons_ytd", "2023-03", 3, 3)
    assert by_key[("prefecture", UNIT)] == (1100, 14000, Decimal("0.078571"), "persons_ytd", "2023-03", 3, 3)
    # 二连浩特 has women to screen but no count: unknown, not 0%
    assert by_key[("county", ERENHOT)] == (None, 4000, None, None, None, 3, 3)


def test_a_complete_line_list_counts_persons_and_a_sample_never_does(v3):
    rows = _rows(v3["dsn"], """select program_code, persons_reached, population, coverage_rate, numerator_source, as_of_period
                               from marts.rpt_coverage where year = 2023 and region_level = 'county' and region_code = %s
                               order by 1""", ERENHOT)
    assert ("SPRING_BUD", 2, 5000, Decimal("0.000400"), "line_list", "2023-04") in rows


def test_year_over_year_is_null_over_unequal_months(v3):
    rows = {r[0]: r[1:] for r in _rows(v3["dsn"], """
        select period, value_ytd, value_ytd_prior_year, months_reported, months_reported_prior_year, change, change_rate
        from marts.rpt_year_over_year
        where region_level = 'county' and region_code = %s and program_code = 'LEGAL_AID' and measure = 'PERSON_TIMES'
          and period like '2023-%%'""", XILINHOT)}
    assert rows["2023-01"] == (100, 100, 1, 1, 0, Decimal("0.0000"))
    # January and March against January to March a year earlier: 200 against 300 is a missing month, not -33%
    assert rows["2023-03"] == (200, 300, 2, 3, None, None)


def test_target_completion_carries_months_reported(v3):
    rows = _rows(v3["dsn"], """select count(*) from information_schema.columns
                               where table_schema = 'marts' and table_name = 'rpt_target_completion'
                                 and column_name in ('numerator_source', 'as_of_period', 'months_reported',
                                                     'months_reported_prior_year')""")
    assert rows == [(4,)]


def test_dim_submission_carries_notes_and_remarks_with_id_numbers_masked(v3):
    rows = _rows(v3["dsn"], """select d.drop_name, d.status, d.approval_status, d.notes, a.remarks
                               from marts.dim_submission as d
                               join marts.fct_program_activity as a using (submission_id)
                               where d.prefecture_code = '150700' and d.period = '2023-06'""")
    assert len(rows) == 1
    drop_name, status, approval, notes, remarks = rows[0]
    assert (status, approval) == ("accepted", "awaiting_approval")
    assert "含王秀英" in notes and "补报的3月数据" in notes and "入户走访" in remarks and "王秀英" in drop_name
    for text in (drop_name, notes, remarks):
        assert NOTED_ID not in text and NOTED_ID[:14] not in text, text
    unknown = _rows(v3["dsn"], "select status, approval_status from marts.dim_submission where submission_id = -1")
    assert unknown == [("unknown", None)]


def test_the_generators_january_drops_declare_opening_balances_that_are_accepted(dimensions, tmp_path_factory):
    from ingest_helpers import make_tree

    base = tmp_path_factory.mktemp("v3_generated")
    root, truth = make_tree(base, "--prefectures", "2", "--months", "2", "--first-period", "2026-01", "--rows", "10",
                            "--seed", "31", "--as-of", "2026-03-20T00:00:00+08:00")
    ingest_all(dimensions, root, base / "quarantine", as_of=datetime.fromisoformat("2026-03-20T00:00:00+08:00"))
    declared = {(m["prefecture_code"], m["program_code"]): Decimal(m["opening_balance_yuan"]) for m in truth["money"]}
    assert any(declared.values()), "some program declares a balance"
    with psycopg.connect(dimensions) as conn:
        rows = conn.execute("""select s.prefecture_code, f.program_code, sum(f.amount_yuan), min(f.txn_date)::text,
                                      bool_and(s.period like '%%-01')
                               from raw.funds as f join ingest.submissions as s using (submission_id)
                               where s.drop_path = any(%s) and s.status = 'accepted' and f.flow_type = 'OPENING_BALANCE'
                               group by 1, 2""", (truth["newest_drops"],)).fetchall()
        warned = conn.execute("""select count(*) from ingest.drop_findings as f join ingest.submissions as s using (submission_id)
                                 where s.drop_path = any(%s) and f.rule = 'opening_balance_outside_january'""",
                              (truth["newest_drops"],)).fetchone()[0]
    loaded = {(unit, program): total for unit, program, total, _, _ in rows}
    # the truth's figure per unit and program: what was declared, 0 where January had no such program
    assert {k: loaded.get(k, Decimal(0)) for k in declared} == declared and set(loaded) <= set(declared)
    assert warned == 0
    assert {(day, january) for *_, day, january in rows} == {("2026-01-01", True)}


def test_persons_ytd_is_read_in_every_format_under_either_header(v3):
    assert v3["ytd_csv"] == ("accepted", []) and v3["ytd_xlsx"] == ("accepted", [])
    rows = _rows(v3["dsn"], """select period, persons_ytd from marts.fct_program_activity
                               where prefecture_code = '150700' and period in ('2023-07', '2023-08') order by 1""")
    assert rows == [("2023-07", 25), ("2023-08", 31)]
