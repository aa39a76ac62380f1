"""Contract v2, one rule at a time: annual forms, units, Ili's hierarchy, the money rules and the new warnings.

Every case is a small hand-made drop with its own prefecture and period (all in 2024, which no other test
file uses), ingested by the real pipeline into the real warehouse; the marts are then built by dbt once and
the rolled-up figures are checked against numbers worked out by hand below.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import psycopg
import pytest

import hostile_drops as hd
from ingest_helpers import AS_OF, ingest_all

ON_TIME = datetime.fromisoformat("2025-01-20T10:00:00+08:00")  # before every 2024 deadline but the months'


def _id(first17: str) -> str:
    return hd.id_number(first17)


WOMAN_40 = _id("65400219840101002")  # born 1984, 17th digit even: a woman of 40 in 2024
WOMAN_41 = _id("65400219830101004")
WOMAN_TACHENG = _id("65420119800101002")
MAN_40 = _id("65400219840101001")
RETIRED_ZHELIMU = _id("15230119700101002")  # 哲里木盟 (retired 1999), today 通辽市 150500
RELIEF_TWICE = _id("15040219700101002")


def activity(region, program, beneficiaries, group="RURAL_WOMEN", **more):
    return {"region_code": region, "program_code": program, "beneficiary_group_code": group,
            "beneficiaries": beneficiaries, **more}


def funds(region, program, source, flow, amount, day, voucher, **more):
    return {"region_code": region, "program_code": program, "fund_source_code": source, "flow_type": flow,
            "amount_yuan": amount, "txn_date": day, "voucher_no": voucher, **more}


def benefit(region, program, id_number, day, benefit_type="SERVICE", amount=None, group="RURAL_WOMEN"):
    return {"region_code": region, "program_code": program, "beneficiary_group_code": group, "id_number": id_number,
            "name": "测试", "benefit_date": day, "benefit_type": benefit_type, "amount_yuan": amount}


def doc(unit, period, **forms):
    return {"prefecture_code": unit, "period": period, "forms": forms}


PLAN_654000 = doc(
    "654000", "2024",
    targets=[
        {"region_code": "654002", "program_code": "TWO_CANCER_SCREEN", "indicator_code": "PERSON_TIMES", "target_value": "1000人次"},
        {"region_code": "654201", "program_code": "TWO_CANCER_SCREEN", "indicator_code": "PERSON_TIMES", "target_value": 500},
        {"region_code": "654301", "program_code": "TWO_CANCER_SCREEN", "indicator_code": "PERSON_TIMES", "target_value": 500},
        {"region_code": "654002", "program_code": "TWO_CANCER_SCREEN", "indicator_code": "FUNDS_SPENT", "target_value": "8万"},
        {"region_code": "654002", "program_code": "MOTHER_PARCEL", "indicator_code": "QUANTITY", "target_value": "100个"},
    ],
    population=[
        {"region_code": "654002", "population_group_code": "WOMEN_35_64", "population": "1,000人", "source": "第七次全国人口普查"},
        {"region_code": "654201", "population_group_code": "WOMEN_35_64", "population": 400},
        {"region_code": "654002", "population_group_code": "HOUSEHOLDS", "population": "300户"},
    ],
    sites=[
        {"region_code": "654002", "site_type_code": "WOMENS_HOME", "total": "120个", "new_this_year": 12, "people": "120人"},
        {"region_code": "654201", "site_type_code": "WOMENS_HOME", "total": 80, "new_this_year": 0},
    ],
)

# Ili in August 2024: 州直 654002, 塔城 654201, 阿勒泰 654301. The prefecture federation receives 100,000 yuan,
# passes 40,000 to 塔城's 654201 (an internal transfer: 654201 reports spending 30,000 of it) and pays a hospital
# 10,000 directly (a disbursement outside the federation system). Spent by the unit: 40,000, not 80,000.
ILI_AUGUST = doc(
    "654000", "2024-08",
    activity=[
        activity("654002", "TWO_CANCER_SCREEN", "600人次", events="3场"),
        activity("654201", "TWO_CANCER_SCREEN", 300),
        activity("654301", "TWO_CANCER_SCREEN", 100),
        activity("654002", "MOTHER_PARCEL", 50, group="LOW_INCOME_WOMEN", quantity="50个"),
        activity("654002", "LEGAL_AID", "2.76万人次", group="GENERAL_PUBLIC"),
    ],
    funds=[
        funds("654000", "TWO_CANCER_SCREEN", "GOV_CENTRAL", "INCOMING", "10万", "2024-08-01", "IN-1"),
        funds("654000", "TWO_CANCER_SCREEN", "GOV_CENTRAL", "DISBURSEMENT", "40000", "2024-08-02", "OUT-1",
              recipient_region_code="654201", counterparty="塔城地区妇联"),
        funds("654201", "TWO_CANCER_SCREEN", "GOV_CENTRAL", "EXPENDITURE", "30000", "2024-08-03", "OUT-2"),
        funds("654000", "TWO_CANCER_SCREEN", "GOV_CENTRAL", "DISBURSEMENT", "10000", "2024-08-04", "OUT-3",
              counterparty="伊犁州妇幼保健院"),
        funds("654000", "MOTHER_PARCEL", "CORPORATE", "INCOMING", "5000", "2024-08-05", "IN-2", in_kind="是"),
        funds("654000", "MOTHER_PARCEL", "SUPERIOR_FEDERATION", "INCOMING", "20000", "2024-08-05", "IN-3"),
        funds("654002", "MOTHER_PARCEL", "CORPORATE", "EXPENDITURE", "5000", "2024-08-06", "OUT-4", in_kind="true"),
    ],
    beneficiaries=[
        benefit("654002", "TWO_CANCER_SCREEN", WOMAN_40, "2024-08-09"),
        benefit("654002", "TWO_CANCER_SCREEN", WOMAN_41, "2024-08-09"),
        benefit("654201", "TWO_CANCER_SCREEN", WOMAN_TACHENG, "2024-08-10"),
        benefit("654201", "TWO_CANCER_SCREEN", RETIRED_ZHELIMU, "2024-08-10"),
    ],
)


def _history_month(period: str, beneficiaries: int) -> dict:
    return doc("150700", period, activity=[activity("150702", "LEGAL_AID", beneficiaries, group="GENERAL_PUBLIC")])


REJECTED = {
    # rule: (unit, period, name, document or writer)
    "wrong_period_kind": ("654000", "2024-01", "targets_in_a_month.json", doc(
        "654000", "2024-01", activity=[activity("654002", "LEGAL_AID", 10)], targets=PLAN_654000["forms"]["targets"][:1])),
    "unit_mismatch": ("654000", "2024-02", "households_as_person_times.json", doc(
        "654000", "2024-02", activity=[activity("654002", "LEGAL_AID", "120户")])),
    "quantity_without_unit": ("654000", "2024-05", "quantity_of_legal_aid.json", doc(
        "654000", "2024-05", activity=[activity("654002", "LEGAL_AID", 10, quantity=5)])),
    "new_exceeds_total": ("150100", "2024", "more_new_than_total.json", doc(
        "150100", "2024", sites=[{"region_code": "150102", "site_type_code": "WOMENS_HOME", "total": 120, "new_this_year": 130}])),
    "region_outside_prefecture": ("150100", "2024-06", "tacheng_from_hohhot.json", doc(
        "150100", "2024-06", activity=[activity("654201", "LEGAL_AID", 10)])),
    "unknown_region": ("654000", "2024-07", "recipient_not_a_division.json", doc(
        "654000", "2024-07", funds=[funds("654000", "LEGAL_AID", "GOV_CENTRAL", "DISBURSEMENT", "100", "2024-07-01", "X-1",
                                          recipient_region_code="990000")])),
}

WARNED = {
    "ineligible_beneficiary": ("150300", "2024-01", doc(
        "150300", "2024-01", activity=[activity("150302", "TWO_CANCER_SCREEN", 10)],
        beneficiaries=[benefit("150302", "TWO_CANCER_SCREEN", _id("15030219840101001"), "2024-01-09")])),
    "persons_exceed_person_times": ("150300", "2024-02", doc(
        "150300", "2024-02", activity=[activity("150302", "TWO_CANCER_SCREEN", 1)],
        beneficiaries=[benefit("150302", "TWO_CANCER_SCREEN", _id(f"1503021984010100{i}"), "2024-02-09") for i in (2, 4)])),
    "cash_exceeds_spending": ("150300", "2024-03", doc(
        "150300", "2024-03", activity=[activity("150302", "TWO_CANCER_RELIEF", 1, group="LOW_INCOME_WOMEN")],
        beneficiaries=[benefit("150302", "TWO_CANCER_RELIEF", _id("15030219700101006"), "2024-03-09", "CASH", "10000",
                               group="LOW_INCOME_WOMEN")])),
    "spending_over_incoming": ("150300", "2024-04", doc(
        "150300", "2024-04", funds=[funds("150302", "LEGAL_AID", "GOV_COUNTY", "INCOMING", "1000", "2024-04-01", "S-1"),
                                    funds("150302", "LEGAL_AID", "GOV_COUNTY", "EXPENDITURE", "5000", "2024-04-02", "S-2")])),
}


def _relief(unit: str, period: str, amount: str) -> dict:
    region = unit[:4] + "02"
    return doc(unit, period,
               activity=[activity(region, "TWO_CANCER_RELIEF", 1, group="LOW_INCOME_WOMEN")],
               funds=[funds(region, "TWO_CANCER_RELIEF", "LOTTERY_CENTRAL", "INCOMING", amount, f"{period}-01", "R-1"),
                      funds(region, "TWO_CANCER_RELIEF", "LOTTERY_CENTRAL", "EXPENDITURE", amount, f"{period}-02", "R-2")],
               beneficiaries=[benefit(region, "TWO_CANCER_RELIEF", RELIEF_TWICE, f"{period}-09", "CASH", amount,
                                      group="LOW_INCOME_WOMEN")])


@pytest.fixture(scope="module")
def v2(dimensions, tmp_path_factory):
    root = tmp_path_factory.mktemp("v2") / "landing"
    paths = {}
    paths["annual_json"] = hd.arrived(hd.write_json(root, "654000", "2024", "654000_2024_year_end.json", PLAN_654000), ON_TIME)
    paths["annual_xlsx"] = hd.arrived(hd.write_xlsx(root, "150500", "2024", "150500_2024.xlsx", hd.xlsx_bytes(
        doc("150500", "2024", targets=[{"region_code": "150502", "program_code": "SPRING_BUD", "indicator_code": "CASH_PAID",
                                        "target_value": "12万"}],
            population=[{"region_code": "150502", "population_group_code": "GIRLS_6_18", "population": 9000}],
            sites=[{"region_code": "150502", "site_type_code": "GRASSROOTS_FEDERATION", "total": 40, "people": 400}]),
        sheet_names={"targets": ["年度任务"], "population": ["人口基数"], "sites": ["阵地组织"]})), ON_TIME)
    paths["annual_csv"] = hd.arrived(hd.write_csv_folder(root, "150200", "2024", "150200_2024_plan", {
        "targets.csv": [{"region_code": "150202", "program_code": "MOTHER_PARCEL", "indicator_code": "QUANTITY", "target_value": "500"}],
        "population.csv": "区县代码,人群代码,人数(人)\n150202,LOW_INCOME_WOMEN,3200\n".encode("gb18030"),
    }), datetime.fromisoformat("2024-03-01T09:00:00+08:00"))  # a plan sent in March: late (due 31 January)
    paths["ili_august"] = hd.arrived(hd.write_json(root, "654000", "2024-08", "654000_2024-08.json", ILI_AUGUST),
                                     datetime.fromisoformat("2024-09-05T10:00:00+08:00"))
    paths["header_unit"] = hd.arrived(hd.write_csv_folder(root, "654000", "2024-03", "header_in_households", {
        "activity.csv": "区县代码,项目代码,受益群体,受益人次(户)\n654002,LEGAL_AID,GENERAL_PUBLIC,120\n".encode("utf-8")}), ON_TIME)
    paths["annual_activity"] = hd.arrived(hd.write_json(root, "150100", "2023", "activity_in_a_year.json", doc(
        "150100", "2023", activity=[activity("150102", "LEGAL_AID", 10)])), ON_TIME)
    for rule, (unit, period, name, document) in REJECTED.items():
        paths[rule] = hd.arrived(hd.write_json(root, unit, period, name, document), ON_TIME)
    for rule, (unit, period, document) in WARNED.items():
        paths[rule] = hd.arrived(hd.write_json(root, unit, period, f"{rule}.json", document),
                                 datetime.fromisoformat(f"{period}-28T10:00:00+08:00"))
    # The same woman paid the full relief in 包头 (150400, January) and again in 鄂尔多斯 (150600, February).
    for unit, period in (("150400", "2024-01"), ("150600", "2024-02")):
        paths[f"relief_{unit}"] = hd.arrived(hd.write_json(root, unit, period, "relief.json", _relief(unit, period, "10000")),
                                             datetime.fromisoformat(f"{period}-28T10:00:00+08:00"))
    # Six steady months, then a month twenty times larger.
    for month, value in zip(range(1, 8), (100, 110, 95, 105, 100, 90, 2000)):
        period = f"2024-{month:02d}"
        paths[f"history_{period}"] = hd.arrived(hd.write_json(root, "150700", period, "legal_aid.json", _history_month(period, value)),
                                                datetime.fromisoformat(f"{period}-28T10:00:00+08:00"))
    ingest_all(dimensions, root, root.parent / "quarantine", as_of=AS_OF)
    rel = {key: str(path.relative_to(root)) for key, path in paths.items()}
    with psycopg.connect(dimensions) as conn:
        rows = conn.execute("select drop_path, status, reasons from ingest.submissions where drop_path = any(%s)",
                            (list(rel.values()),)).fetchall()
    by_path = {path: (status, {r["rule"] for r in reasons if r["severity"] == "error"},
                      {r["rule"] for r in reasons if r["severity"] == "warning"}) for path, status, reasons in rows}
    return {"dsn": dimensions, "drops": {key: by_path[path] for key, path in rel.items()}, "paths": rel,
            "quarantine": root.parent / "quarantine"}


@pytest.mark.parametrize("key", ["annual_json", "annual_xlsx", "annual_csv"])
def test_annual_drops_in_every_format_are_accepted(v2, key):
    status, errors, warnings = v2["drops"][key]
    assert (status, errors) == ("accepted", set())
    assert warnings == ({"late_drop"} if key == "annual_csv" else set())


def test_annual_rows_land_in_raw_with_their_units_read(v2):
    with psycopg.connect(v2["dsn"]) as conn:
        targets = dict(conn.execute(
            "select region_code || ' ' || indicator_code, target_value from raw.targets join ingest.submissions using (submission_id) "
            "where drop_path = %s", (v2["paths"]["annual_json"],)).fetchall())
        population = conn.execute(
            "select population from raw.population join ingest.submissions using (submission_id) where drop_path = %s "
            "and population_group_code = 'LOW_INCOME_WOMEN'", (v2["paths"]["annual_csv"],)).fetchone()[0]
    assert targets["654002 FUNDS_SPENT"] == Decimal("80000.00")
    assert targets["654002 PERSON_TIMES"] == Decimal("1000.00")
    assert population == 3200


@pytest.mark.parametrize("rule", sorted(REJECTED))
def test_each_new_error_rejects_the_drop_with_its_own_rule(v2, rule):
    assert v2["drops"][rule][:2] == ("rejected", {rule})


def test_a_unit_in_a_header_must_be_the_fields_unit(v2):
    assert v2["drops"]["header_unit"][:2] == ("rejected", {"unit_mismatch"})


def test_a_monthly_form_in_an_annual_drop_is_the_wrong_kind(v2):
    assert v2["drops"]["annual_activity"][:2] == ("rejected", {"wrong_period_kind"})


def test_ili_reports_for_tacheng_and_altay_and_units_are_read(v2):
    status, errors, warnings = v2["drops"]["ili_august"]
    assert (status, errors, warnings) == ("accepted", set(), set())
    with psycopg.connect(v2["dsn"]) as conn:
        rows = dict(conn.execute(
            "select region_code || ' ' || program_code, beneficiaries from raw.activity join ingest.submissions using (submission_id) "
            "where drop_path = %s", (v2["paths"]["ili_august"],)).fetchall())
        quantity = conn.execute(
            "select quantity from raw.activity join ingest.submissions using (submission_id) where drop_path = %s "
            "and program_code = 'MOTHER_PARCEL'", (v2["paths"]["ili_august"],)).fetchone()[0]
    assert rows["654002 LEGAL_AID"] == 27_600 and rows["654301 TWO_CANCER_SCREEN"] == 100
    assert quantity == 50


@pytest.mark.parametrize("rule", sorted(WARNED))
def test_each_new_warning_accepts_the_drop_and_names_the_rule(v2, rule):
    assert v2["drops"][rule] == ("accepted", set(), {rule})


def test_an_accepted_drop_with_warnings_gets_a_report_the_prefecture_can_read(v2):
    import json

    reports = list((v2["quarantine"] / "150300" / "2024-01").glob("*/report.json"))
    assert len(reports) == 1 and not (reports[0].parent / "drop").exists()  # a report only: the drop was loaded
    report = json.loads(reports[0].read_text(encoding="utf-8"))
    assert report["status"] == "accepted"
    finding = next(f for f in report["findings"] if f["rule"] == "ineligible_beneficiary")
    assert finding["row_number"] == 1 and "gender M" in finding["value"] and "受益人" in finding["message_zh"]


def test_cash_over_the_yearly_cap_is_warned_across_prefectures(v2):
    assert v2["drops"]["relief_150400"] == ("accepted", set(), set())
    assert v2["drops"]["relief_150600"] == ("accepted", set(), {"cash_over_cap"})


def test_an_outlier_against_the_units_own_history_is_warned(v2):
    for month in range(1, 7):
        assert v2["drops"][f"history_2024-{month:02d}"] == ("accepted", set(), set())
    assert v2["drops"]["history_2024-07"] == ("accepted", set(), {"min_max_outlier"})


@pytest.fixture(scope="module")
def marts(v2):
    from halfsky.orchestration import pipeline
    pipeline.build_marts(AS_OF, v2["dsn"])
    return v2["dsn"]


def _one(dsn: str, sql: str, *params):
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchone()


def test_money_passed_to_a_county_and_spent_there_counts_once(marts):
    spent, internal, raised, in_kind = _one(marts, """
        select sum(amount_yuan) filter (where is_spent and not in_kind), sum(amount_yuan) filter (where is_internal_transfer),
               sum(amount_yuan) filter (where is_raised), sum(amount_yuan) filter (where in_kind and flow_type = 'INCOMING')
        from marts.fct_fund_flows where prefecture_code = '654000' and period = '2024-08'""")
    assert spent == Decimal("40000.00")  # 30,000 spent by 654201 + 10,000 to the hospital; the 40,000 transfer is not spending
    assert internal == Decimal("40000.00")
    assert raised == Decimal("105000.00")  # 100,000 + 5,000 in kind; the 20,000 passed down from above is not raised
    assert in_kind == Decimal("5000.00")
    balance = _one(marts, """
        select sum(spent_cash_yuan), sum(internal_transfers_yuan), sum(spent_in_kind_yuan), sum(incoming_in_kind_yuan)
        from marts.rpt_funds_monthly where prefecture_code = '654000' and period = '2024-08'""")
    assert balance == (Decimal("40000.00"), Decimal("40000.00"), Decimal("5000.00"), Decimal("5000.00"))
    cost = _one(marts, """select spent_yuan, person_times, cost_per_person_time_yuan from marts.rpt_cost_per_beneficiary
                          where prefecture_code = '654000' and year = 2024 and program_code = 'TWO_CANCER_SCREEN'""")
    assert cost == (Decimal("40000.00"), 1000, Decimal("40.00"))


def test_ili_whole_prefecture_equals_its_own_counties_plus_tacheng_plus_altay(marts):
    with psycopg.connect(marts) as conn:
        rows = dict(conn.execute("""
            select region_level || ' ' || region_code, actual_value from marts.rpt_target_completion
            where year = 2024 and program_code = 'TWO_CANCER_SCREEN' and indicator_code = 'PERSON_TIMES'""").fetchall())
        completion = conn.execute("""
            select target_value, completion_rate from marts.rpt_target_completion where year = 2024 and region_level = 'reporting_unit'
            and region_code = '654000' and program_code = 'TWO_CANCER_SCREEN' and indicator_code = 'PERSON_TIMES'""").fetchone()
    assert rows["prefecture 654000"] == 600  # 州直
    assert rows["prefecture 654200"] == 300 and rows["prefecture 654300"] == 100
    assert rows["reporting_unit 654000"] == rows["prefecture 654000"] + rows["prefecture 654200"] + rows["prefecture 654300"]
    assert rows["province 650000"] == 1000
    assert completion == (Decimal("2000.00"), Decimal("0.5000"))


def test_coverage_is_never_a_rate_of_a_screening_sample(marts):
    # Contract v3: screening's line list is a sample of who was served (programs.csv line_list_complete is
    # empty), so without persons_ytd the persons reached and the rate are unknown, not 2 of 1,000 women.
    with psycopg.connect(marts) as conn:
        rows = {(r[0], r[1]): r[2:] for r in conn.execute("""
            select region_level, region_code, persons_reached, population, coverage_rate, numerator_source
            from marts.rpt_coverage where year = 2024 and program_code = 'TWO_CANCER_SCREEN'""")}
    assert rows[("prefecture", "654000")] == (None, 1000, None, None)
    assert rows[("prefecture", "654200")] == (None, 400, None, None)
    assert rows[("reporting_unit", "654000")] == (None, 1400, None, None)
    assert ("prefecture", "150300") not in rows  # no population, no persons: no row


def test_sites_and_data_quality_reach_the_marts_without_personal_data(marts):
    total, new = _one(marts, """select sum(total), sum(new_this_year) from marts.fct_sites s join marts.dim_site_type t using (site_type_key)
                               where s.prefecture_code = '654000' and year = 2024 and t.site_type_code = 'WOMENS_HOME'""")
    assert (total, new) == (200, 12)
    with psycopg.connect(marts) as conn:
        rules = {r[0] for r in conn.execute("select rule from marts.fct_data_quality where period like '2024%'")}
        columns = {r[0] for r in conn.execute("select column_name from information_schema.columns "
                                              "where table_schema = 'marts' and table_name = 'fct_data_quality'")}
    assert set(WARNED) | {"cash_over_cap", "min_max_outlier", "late_drop"} <= rules
    assert not columns & {"value", "detail", "id_number", "name"}


def test_home_regions_resolve_and_never_dangle(marts):
    dangling = _one(marts, """select count(*) from marts.dim_beneficiary b left join marts.dim_region r on r.region_code = b.home_region_code
                              where r.region_code is null""")[0]
    assert dangling == 0
    with psycopg.connect(marts) as conn:
        homes = {r[0] for r in conn.execute(
            "select home_region_code from marts.dim_beneficiary where birth_year = 1970 and gender = 'F'")}
    assert any(code.startswith("1505") for code in homes)  # 152301 哲里木盟's seat, today in 通辽市


def test_annual_reports_have_completeness_rows(marts):
    with psycopg.connect(marts) as conn:
        rows = {(r[0], r[1]): r[2:] for r in conn.execute("""
            select report, prefecture_code, status, on_time from marts.rpt_reporting_completeness where period = '2024'""")}
    # Ili sent its plan only with the year-end count, in January 2025: the count is on time, the plan is not
    assert rows[("annual_plan", "654000")] == ("accepted", False)
    assert rows[("annual_year_end", "654000")] == ("accepted", True)
    assert rows[("annual_year_end", "150500")] == ("accepted", True)
    assert rows[("annual_plan", "150200")] == ("accepted", False)  # sent in March
    assert rows[("annual_year_end", "150200")] == ("missing", False)  # its drop held no sites
