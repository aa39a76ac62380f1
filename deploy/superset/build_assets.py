#!/usr/bin/env python3
"""Write halfsky's Superset dashboards as code: deploy/superset/assets/*.yaml (Superset 6.1 import format).

    source .halfsky/env.sh && .venv/bin/python deploy/superset/build_assets.py

The charts, datasets and dashboards are declared below; column types come from the warehouse
(information_schema, so run it after `make demo`). Every object gets a stable uuid5, so a re-import
(`make bi`, /api/v1/assets/import/) overwrites in place. The database file holds no host and no
password: halfsky_dev.bi fills the URI in from the warehouse DSN and sends the analyst's password with
the import. Commit the output; edit this file, not the YAML.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import psycopg
import yaml

HERE = Path(__file__).resolve().parent
OUT = HERE / "assets"
NS = uuid.UUID("6f1b0c1e-4d2a-5b9e-9c1a-000000000000")  # the prototype's namespace
DB_NAME = "halfsky_marts"
SCHEMA = "marts"


def uid(kind: str, name: str) -> str:
    return str(uuid.uuid5(NS, f"halfsky/{kind}/{name}"))


# --- datasets --------------------------------------------------------------------------------------
# key: dict(table | sql, description, labels {column: (zh, en)}, calculated [(name, sql, type, zh, en)],
#           metrics [(name, sql, zh, en, d3format)], requires: the mart without which it is left out (optional))
QUARTER_SQL = "left(period, 4) || '-Q' || ((substr(period, 6, 2)::int + 2) / 3)::text"
# A prefecture-period's state as one number for the completeness heatmap: signed off by the province (approved, or
# closed by itself after close_after_days) on top, then accepted on time, late, sent but not accepted, missing.
STATUS_SCORE = ("CASE WHEN approval_status = 'approved' THEN 4 WHEN status = 'accepted' AND on_time THEN 3 "
                "WHEN status = 'accepted' THEN 2 WHEN submitted THEN 1 ELSE 0 END")
STATUS_SCALE_ZH = "4已审核 3按时 2迟报 1被拒 0未报"
STATUS_SCALE_EN = ("4 approved by the province, 3 accepted on time (awaiting approval or returned), 2 accepted late, "
                   "1 submitted but not accepted (rejected), 0 missing")
LATEST_SQL = "SELECT t.*, t.year = max(t.year) OVER () AS is_latest_year\nFROM marts.{t} t"
# The year and region columns rpt_target_completion and rpt_coverage share (contract v2's region levels).
REGION_YEAR_LABELS = {
    "year": ("年度", "Year"),
    "region_level": ("区划层级", "Region level: county, prefecture, reporting_unit, province"),
    "region_code": ("区划代码", "Region code, GB/T 2260"),
    "region_name_zh": ("地区", "Region"),
    "region_name_en": ("地区（英文）", "Region, English name"),
}
DATASETS = {
    "rpt_funds_monthly": dict(
        table="rpt_funds_monthly",
        description="Funds raised and spent per month, prefecture (reporting unit), program and fund source; "
                    "internal transfers are excluded from spent, in-kind goods kept apart from cash; an opening "
                    "balance is no month's money (marts.rpt_funds_monthly, contract v3).",
        labels={
            "prefecture_code": ("报告单位代码", "Reporting unit (prefecture) code, GB/T 2260"),
            "prefecture_name_zh": ("报告单位", "Reporting unit (prefecture / league / city)"),
            "prefecture_name_en": ("报告单位（英文）", "Reporting unit, English name"),
            "period": ("月份", "Reporting month, YYYY-MM"),
            "program_code": ("项目代码", "Program code"),
            "program_name_zh": ("项目", "Program"),
            "fund_source_code": ("资金来源代码", "Fund source code"),
            "fund_source_name_zh": ("资金来源", "Fund source"),
            "incoming_cash_yuan": ("现金收入（元）", "Incoming cash, yuan (includes money passed down from the federation above)"),
            "incoming_in_kind_yuan": ("实物收入（元）", "Incoming in-kind value, yuan"),
            "raised_yuan": ("募集金额（元）", "Raised: incoming except SUPERIOR_FEDERATION, cash + in kind, yuan"),
            "spent_cash_yuan": ("现金支出（元）", "Cash spent (expenditure + disbursements outside the unit), yuan"),
            "spent_in_kind_yuan": ("实物支出（元）", "In-kind value spent, yuan"),
            "internal_transfers_yuan": ("内部划转（元）", "Disbursements to a county of the same unit: shown, never counted as spent"),
        },
        calculated=[("quarter", QUARTER_SQL, "VARCHAR", "季度", "Quarter of the reporting month, YYYY-Qn")],
        metrics=[
            ("raised_cash", "SUM(raised_yuan - incoming_in_kind_yuan)", "现金募集（元）",
             "Cash raised (incoming cash except SUPERIOR_FEDERATION), yuan", ",.0f"),
            ("raised_in_kind", "SUM(incoming_in_kind_yuan)", "实物募集（元）", "In-kind goods raised, yuan", ",.0f"),
            ("spent_cash", "SUM(spent_cash_yuan)", "现金支出（元）", "Cash spent, yuan (internal transfers excluded)", ",.0f"),
            ("spent_in_kind", "SUM(spent_in_kind_yuan)", "实物支出（元）", "In-kind goods spent, yuan", ",.0f"),
            ("internal_transfers", "SUM(internal_transfers_yuan)", "内部划转（元）",
             "Internal transfers, yuan (shown, not counted as spent)", ",.0f"),
        ],
    ),
    "rpt_funds_balance": dict(
        table="rpt_funds_balance",
        description="Cash balance per reporting unit, program, fund source and year: opening + incoming - spent "
                    "= closing, with the basis of the opening balance; in-kind apart (marts.rpt_funds_balance, "
                    "contract v3).",
        labels={
            "prefecture_code": ("报告单位代码", "Reporting unit (prefecture) code, GB/T 2260"),
            "prefecture_name_zh": ("报告单位", "Reporting unit (prefecture / league / city)"),
            "prefecture_name_en": ("报告单位（英文）", "Reporting unit, English name"),
            "year": ("年度", "Year"),
            "program_code": ("项目代码", "Program code"),
            "program_name_zh": ("项目", "Program"),
            "fund_source_code": ("资金来源代码", "Fund source code"),
            "fund_source_name_zh": ("资金来源", "Fund source"),
            "opening_balance_yuan": ("年初结余（元）", "Cash held at 1 January: declared (OPENING_BALANCE), else the "
                                     "previous year's closing; empty in a first year without a declaration"),
            "incoming_yuan": ("到位资金（元）", "Cash that came in, money passed down from above included"),
            "raised_yuan": ("筹集资金（元）", "Cash incoming except money passed down by the federation above"),
            "spent_yuan": ("支出（元）", "Cash spent: expenditure plus disbursements outside the unit"),
            "closing_balance_yuan": ("年末结余（元）", "opening + incoming - spent (opening taken as 0 in a first "
                                     "year without a declaration)"),
            "balance_basis": ("结余口径", "opening_balance: from a declared opening balance; since_first_report: "
                              "summed since the unit's first report, none declared"),
            "incoming_in_kind_yuan": ("到位物资折价（元）", "Goods that came in, valued in yuan (apart from cash)"),
            "spent_in_kind_yuan": ("物资支出折价（元）", "Goods given out, valued in yuan"),
            "internal_transfers_yuan": ("内部拨付（元）", "Disbursed to a county of the same unit: neither spent nor raised"),
            "months_reported": ("已报月数", "Months of the year with an accepted monthly drop"),
        },
        calculated=[],
        metrics=[
            # one row per group in the table below (its grain), so a SUM is the row's own figure and an
            # unknown opening balance stays empty rather than 0
            ("opening", "SUM(opening_balance_yuan)", "年初结余（元）", "Opening balance, yuan", ",.2f"),
            ("incoming", "SUM(incoming_yuan)", "到位资金（元）", "Incoming cash, yuan", ",.2f"),
            ("spent", "SUM(spent_yuan)", "支出（元）", "Cash spent, yuan", ",.2f"),
            ("closing", "SUM(closing_balance_yuan)", "年末结余（元）", "Closing balance = opening + incoming - spent, yuan",
             ",.2f"),
            ("months", "MAX(months_reported)", "已报月数", "Months of the year reported", "d"),
        ],
    ),
    "target_completion": dict(
        # a view of the mart with the latest year marked (Superset refuses sub-queries in a chart's filters)
        # and the program's and indicator's names, so a chart can keep unlike indicators apart by name
        sql=("SELECT t.*, p.name_zh AS program_name_zh, i.name_zh AS indicator_name_zh, i.unit AS indicator_unit,\n"
             "       p.name_zh || '·' || i.name_zh AS program_indicator,\n"
             "       t.year = max(t.year) OVER () AS is_latest_year\n"
             "FROM marts.rpt_target_completion t\n"
             "LEFT JOIN marts.dim_program p ON p.program_code = t.program_code\n"
             "LEFT JOIN marts.dim_indicator i ON i.indicator_code = t.indicator_code"),
        description="Annual targets against actuals per region level, region, program and indicator "
                    "(marts.rpt_target_completion, contract v3). Indicators count different things (person-times, "
                    "persons, yuan...): compare a completion rate with the share of the year gone, never average "
                    "rates over indicators.",
        labels={
            **REGION_YEAR_LABELS,
            "program_code": ("项目代码", "Program code"),
            "indicator_code": ("指标代码", "Indicator code"),
            "target_value": ("目标值", "Target for the year, in the indicator's unit"),
            "actual_value": ("完成值", "Actual so far; DISTINCT_PERSONS empty when persons cannot be counted"),
            "completion_rate": ("完成率", "Actual / target (fraction); empty when the actual is unknown"),
            "year_elapsed_share": ("时间进度", "Share of the year gone (fraction), to read a completion rate against"),
            "numerator_source": ("人数来源", "For DISTINCT_PERSONS: persons_ytd (本年累计) or line_list; empty when "
                                 "persons cannot be counted"),
            "as_of_period": ("数据截至", "The newest month among the counts added"),
            "months_reported": ("已报月数", "Months of the year with an accepted monthly drop"),
            "months_reported_prior_year": ("上年已报月数", "The same for the year before"),
            "program_name_zh": ("项目", "Program"),
            "indicator_name_zh": ("指标", "Indicator"),
            "indicator_unit": ("单位", "Unit of the indicator's target and actual"),
            "program_indicator": ("项目·指标", "Program and indicator: a completion rate belongs to one of them"),
            "is_latest_year": ("最新年度", "The latest year in the mart"),
        },
        calculated=[],
        metrics=[
            ("target", "SUM(target_value)", "目标值", "Target (add only within one indicator)", ",.0f"),
            ("actual", "SUM(actual_value)", "完成值", "Actual (add only within one indicator)", ",.0f"),
            ("completion", "SUM(actual_value) / NULLIF(SUM(target_value), 0)", "完成率",
             "Actual / target of one indicator", ".1%"),
            ("elapsed", "MAX(year_elapsed_share)", "时间进度", "Share of the year gone", ".1%"),
            ("months", "MIN(months_reported)", "已报月数", "Months of the year reported", "d"),
        ],
    ),
    "coverage": dict(
        sql=("SELECT c.*, p.name_zh AS program_name_zh, c.year = max(c.year) OVER () AS is_latest_year\n"
             "FROM marts.rpt_coverage c\n"
             "LEFT JOIN marts.dim_program p ON p.program_code = c.program_code"),
        description="Distinct persons reached this year (本年累计 persons_ytd, or a complete line list) against the "
                    "population of the program's group, per region level and region (marts.rpt_coverage, contract "
                    "v3); empty, never 0, where persons cannot be counted.",
        labels={
            **REGION_YEAR_LABELS,
            "program_code": ("项目代码", "Program code"),
            "program_name_zh": ("项目", "Program"),
            "population_group_code": ("人群代码", "Population group of the program"),
            "persons_reached": ("覆盖人数", "Distinct persons reached this year; empty when they cannot be counted"),
            "population": ("人口基数", "Population of the group"),
            "coverage_rate": ("覆盖率", "Persons reached / population (fraction); empty without a numerator or a "
                              "denominator"),
            "numerator_source": ("人数来源", "persons_ytd (本年累计), line_list (complete line lists only) or empty"),
            "as_of_period": ("数据截至", "The newest month among the counts added"),
            "months_reported": ("已报月数", "Months of the year with an accepted monthly drop"),
            "months_reported_prior_year": ("上年已报月数", "The same for the year before"),
            "is_latest_year": ("最新年度", "The latest year in the mart"),
        },
        calculated=[],
        metrics=[
            ("persons", "SUM(persons_reached)", "覆盖人数", "Distinct persons reached (do not add across regions' levels)", ",d"),
            ("population_sum", "SUM(population)", "人口基数", "Population", ",.0f"),
            # two decimals of a percent: a county's screening coverage is a few per cent, not 0.00%
            ("coverage", "SUM(persons_reached) / NULLIF(SUM(population), 0)", "覆盖率",
             "Persons reached / population", ".2%"),
        ],
    ),
    "org_coverage": dict(
        requires="rpt_org_coverage",  # contract v3's grassroots mart; left out while the warehouse lacks it
        sql=("SELECT o.*, CASE o.measure\n"
             "         WHEN 'townships_with_federation' THEN '乡镇(街道)建妇联'\n"
             "         WHEN 'villages_with_federation' THEN '村(社区)建妇联'\n"
             "         WHEN 'villages_with_womens_home' THEN '村(社区)建妇女之家'\n"
             "         WHEN 'committees_with_women' THEN '“两委”有女性'\n"
             "         WHEN 'chairs_in_committee' THEN '妇联主席进“两委”'\n"
             "         ELSE o.measure END AS measure_zh,\n"
             "       o.year = max(o.year) OVER () AS is_latest_year\n"
             "FROM marts.rpt_org_coverage o"),
        description="Grassroots organisational coverage at the year's end (基层组织覆盖): townships and villages with a "
                    "federation, a women's home, a woman on the village committees (两委), the chair on them; per "
                    "region level and region, with the counties fully covered (marts.rpt_org_coverage, contract v3).",
        labels={
            **REGION_YEAR_LABELS,
            "measure": ("指标代码", "townships_with_federation, villages_with_federation, villages_with_womens_home, "
                        "committees_with_women, chairs_in_committee"),
            "measure_zh": ("指标", "What is covered"),
            "covered": ("已覆盖", "Townships or villages covered"),
            "total": ("总数", "Townships or villages there are (of the counties that reported the measure)"),
            "coverage_rate": ("覆盖率", "Covered / total (fraction)"),
            "is_fully_covered": ("全覆盖", "Covered = total > 0"),
            "counties": ("县数", "County-level regions under the row that reported the measure"),
            "counties_fully_covered": ("全覆盖县数", "Of them, the counties at 100%"),
            "is_latest_year": ("最新年度", "The latest year in the mart"),
        },
        calculated=[],
        metrics=[
            ("org_covered", "SUM(covered)", "已覆盖", "Covered", ",d"),
            ("org_total", "SUM(total)", "总数", "Total", ",d"),
            ("org_coverage", "SUM(covered)::numeric / NULLIF(SUM(total), 0)", "覆盖率", "Covered / total", ".1%"),
            ("counties_full", "SUM(counties_fully_covered)", "全覆盖县数", "Counties at 100%", ",d"),
            ("counties_reporting", "SUM(counties)", "县数", "Counties that reported the measure", ",d"),
            ("counties_full_share", "SUM(counties_fully_covered)::numeric / NULLIF(SUM(counties), 0)",
             "全覆盖县占比", "Counties at 100% / counties that reported", ".0%"),
        ],
    ),
    "year_over_year": dict(
        sql=("SELECT y.*, p.name_zh AS program_name_zh, y.period = max(y.period) OVER () AS is_latest_period\n"
             "FROM marts.rpt_year_over_year y\n"
             "LEFT JOIN marts.dim_program p ON p.program_code = y.program_code"),
        description="Year to date against the same months a year earlier (marts.rpt_year_over_year, contract v3): "
                    "the months reported in both years are shown, and a change over unequal months is empty, "
                    "never a decline.",
        labels={
            "period": ("报送期", "Year to date up to this month, YYYY-MM"),
            "region_level": REGION_YEAR_LABELS["region_level"],
            "region_code": REGION_YEAR_LABELS["region_code"],
            "region_name_zh": REGION_YEAR_LABELS["region_name_zh"],
            "region_name_en": REGION_YEAR_LABELS["region_name_en"],
            "program_code": ("项目代码", "Program code"),
            "program_name_zh": ("项目", "Program"),
            "measure": ("指标", "What is counted"),
            "value_ytd": ("本年累计", "Year to date"),
            "value_ytd_prior_year": ("上年同期", "The same months a year earlier"),
            "months_reported": ("已报月数", "Months of the year up to the period with an accepted monthly drop"),
            "months_reported_prior_year": ("上年已报月数", "The same for the year before"),
            "change": ("增减", "value_ytd - value_ytd_prior_year; empty over unequal months"),
            "change_rate": ("增减率", "change / prior year (fraction); empty over unequal months"),
            "is_latest_period": ("最新报送期", "The latest period in the mart"),
        },
        calculated=[],
        metrics=[
            # one row per group at the table's grain: MAX keeps an empty change empty
            ("ytd", "MAX(value_ytd)", "本年累计", "Year to date", ",.0f"),
            ("ytd_prior", "MAX(value_ytd_prior_year)", "上年同期", "Same months a year earlier", ",.0f"),
            ("months_now", "MAX(months_reported)", "已报月数", "Months reported this year", "d"),
            ("months_prior", "MAX(months_reported_prior_year)", "上年已报月数", "Months reported a year earlier", "d"),
            ("yoy_change_rate", "MAX(change_rate)", "增减率", "Change rate; empty over unequal months", "+.1%"),
        ],
    ),
    "rpt_reporting_completeness": dict(
        table="rpt_reporting_completeness",
        description="One row per prefecture and reporting period: expected, submitted, on time, status, "
                    "drops rejected (marts.rpt_reporting_completeness).",
        labels={
            "period": ("报送期", "Reporting period (YYYY-MM, or YYYY for annual forms)"),
            "prefecture_code": ("地市代码", "Prefecture code"),
            "prefecture_name_zh": ("地市", "Prefecture"),
            "prefecture_name_en": ("地市（英文）", "Prefecture, English name"),
            "expected": ("应报", "A report is expected"),
            "submitted": ("已报", "Something was submitted"),
            "on_time": ("按时", "Accepted before the deadline"),
            "deadline": ("截止时间", "Deadline"),
            "first_received_at": ("首次收到", "First drop received at"),
            "accepted_at": ("通过时间", "Accepted at"),
            "status": ("状态", "missing / accepted / ..."),
            "drops_rejected": ("被拒次数", "Drops rejected for this prefecture-period"),
            "accepted_submission_id": ("通过批次", "Accepted submission id"),
            "report": ("报告", "Validation report"),
            "approval_status": ("审核状态", "The province's sign-off: approved, awaiting_approval, returned, "
                                            "reopened, or not_submitted"),
        },
        calculated=[("status_score", STATUS_SCORE, "INTEGER", "报送状态分", STATUS_SCALE_EN)],
        metrics=[
            ("status", f"MAX({STATUS_SCORE})", f"报送与审核状态（{STATUS_SCALE_ZH}）", STATUS_SCALE_EN, "d"),
            ("rejected", "SUM(drops_rejected)", "被拒次数", "Drops rejected", "d"),
            ("late", "SUM(CASE WHEN status = 'accepted' AND NOT on_time THEN 1 ELSE 0 END)", "迟报数",
             "Accepted after the deadline", "d"),
        ],
    ),
    "beneficiaries_monthly": dict(
        sql=("SELECT d.period, d.year, d.month, g.beneficiary_group_code, g.name_zh AS group_name_zh,\n"
             "       g.name_en AS group_name_en, f.prefecture_code, f.beneficiary_key, f.amount_yuan\n"
             "FROM marts.fct_benefits f\n"
             "JOIN marts.dim_date d ON d.date_key = f.date_key\n"
             "JOIN marts.dim_beneficiary_group g ON g.beneficiary_group_key = f.beneficiary_group_key\n"
             "WHERE f.is_eligible"),
        description="Eligible benefits with their month and beneficiary group (marts.fct_benefits + dim_date + "
                    "dim_beneficiary_group); count distinct beneficiary_key, never add months up.",
        labels={
            "period": ("月份", "Month, YYYY-MM"),
            "year": ("年度", "Year"),
            "month": ("月", "Month number"),
            "beneficiary_group_code": ("受益群体代码", "Beneficiary group code"),
            "group_name_zh": ("受益群体", "Beneficiary group"),
            "group_name_en": ("受益群体（英文）", "Beneficiary group, English"),
            "prefecture_code": ("地市代码", "Prefecture code"),
            "beneficiary_key": ("受益人键", "Pseudonymous person key (HMAC); no names or id numbers"),
            "amount_yuan": ("金额（元）", "Benefit amount, yuan"),
        },
        calculated=[],
        metrics=[
            ("beneficiaries", "COUNT(DISTINCT beneficiary_key)", "受益人数（去重）", "Distinct beneficiaries", ",d"),
            ("benefit_amount", "SUM(amount_yuan)", "受益金额（元）", "Benefit amount, yuan", ",.0f"),
        ],
    ),
    "dim_region": dict(
        table="dim_region",
        description="Administrative divisions (GB/T 2260) with their coordinates and reporting unit (marts.dim_region).",
        labels={
            "region_code": ("区划代码", "Region code, GB/T 2260"),
            "name_zh": ("名称", "Name"),
            "name_en": ("名称（英文）", "Name, English (pinyin)"),
            "level": ("层级", "province / prefecture / county"),
            "prefecture_name_zh": ("地市", "Prefecture"),
            "province_name_zh": ("省区", "Province"),
            "longitude": ("经度", "Longitude (WGS 84)"),
            "latitude": ("纬度", "Latitude (WGS 84)"),
            "reporting_unit_name_zh": ("报告单位", "Reporting unit"),
            "county_type": ("县级类型", "County type"),
        },
        calculated=[],
        metrics=[("regions", "COUNT(*)", "区划数", "Number of divisions", ",d")],
    ),
}


def column_types(conn, name: str, spec: dict) -> list[tuple[str, str]]:
    if "table" in spec:
        rows = conn.execute(
            "select column_name, data_type from information_schema.columns where table_schema = %s and "
            "table_name = %s order by ordinal_position", (SCHEMA, spec["table"])).fetchall()
    else:
        cur = conn.execute(f"select * from ({spec['sql']}) q limit 0")
        names = {r[0]: r[1] for r in conn.execute("select oid, typname from pg_type").fetchall()}
        rows = [(d.name, names[d.type_code]) for d in cur.description]
    if not rows:
        raise SystemExit(f"{name}: no columns; run make demo first")
    return rows


SQLA_TYPE = {"text": "VARCHAR", "integer": "INTEGER", "int4": "INTEGER", "bigint": "BIGINT", "int8": "BIGINT",
             "numeric": "NUMERIC", "boolean": "BOOLEAN", "bool": "BOOLEAN", "date": "DATE",
             "timestamp with time zone": "TIMESTAMP WITH TIME ZONE", "varchar": "VARCHAR"}


def dataset_yaml(conn, name: str, spec: dict) -> dict:
    cols = []
    for col, typ in column_types(conn, name, spec):
        zh, en = spec["labels"].get(col, (None, None))
        sqla = SQLA_TYPE.get(typ, typ.upper())
        cols.append(dict(column_name=col, verbose_name=zh, is_dttm=sqla in ("DATE", "TIMESTAMP WITH TIME ZONE"),
                         is_active=True, type=sqla, advanced_data_type=None, groupby=True, filterable=True,
                         expression=None, description=en, python_date_format=None, datetime_format=None,
                         extra=None))
    for col, expr, sqla, zh, en in spec["calculated"]:
        cols.append(dict(column_name=col, verbose_name=zh, is_dttm=False, is_active=True, type=sqla,
                         advanced_data_type=None, groupby=True, filterable=True, expression=expr,
                         description=en, python_date_format=None, datetime_format=None, extra=None))
    metrics = [dict(metric_name=m, verbose_name=zh, metric_type=None, expression=expr, description=en,
                    d3format=fmt, currency=None, extra=None, warning_text=None)
               for m, expr, zh, en, fmt in spec["metrics"]]
    return dict(
        table_name=name, main_dttm_col=None, currency_code_column=None, description=spec["description"],
        default_endpoint=None, offset=0, cache_timeout=None,
        catalog=None,  # a catalog would override the URI's database on Postgres
        schema=SCHEMA, sql=spec.get("sql"), params=None, template_params=None, filter_select_enabled=True,
        fetch_values_predicate=None, extra=None, normalize_columns=False, always_filter_main_dttm=False,
        folders=None, uuid=uid("dataset", f"{SCHEMA}.{name}"), metrics=metrics, columns=cols, version="1.0.0",
        database_uuid=uid("database", DB_NAME))


# --- charts ----------------------------------------------------------------------------------------
def sql_filter(sql: str) -> dict:
    return {"expressionType": "SQL", "clause": "WHERE", "sqlExpression": sql, "subject": None,
            "operator": None, "comparator": None, "isExtra": False, "isNew": False}


def eq_filter(col: str, value) -> dict:
    return {"expressionType": "SIMPLE", "clause": "WHERE", "subject": col, "operator": "==",
            "operatorId": "EQUALS", "comparator": value, "isExtra": False, "isNew": False, "sqlExpression": None}


RECENT_MONTHS = "length(period) = 7 AND period >= to_char(current_date - interval '24 months', 'YYYY-MM')"

BAR = dict(xAxisForceCategorical=True, row_limit=10000, order_desc=True, orientation="vertical",
           show_legend=True, rich_tooltip=True, y_axis_format="SMART_NUMBER", x_axis_sort_asc=True,
           comparison_type="values", truncate_metric=True, color_scheme="supersetColors")

# key: (slice_name, description, viz_type, dataset, params)
CHARTS = {
    "funds_by_quarter": (
        "按季度募集与支出（现金、实物分列） Funds raised and spent by quarter",
        "Cash and in-kind raised and spent per quarter; internal transfers are not spent, an opening balance is "
        "neither raised nor spent (rpt_funds_monthly).",
        "echarts_timeseries_bar", "rpt_funds_monthly",
        dict(BAR, x_axis="quarter", metrics=["raised_cash", "spent_cash", "raised_in_kind", "spent_in_kind"],
             groupby=[], adhoc_filters=[], x_axis_title="季度", x_axis_title_margin=15)),
    "funds_pivot": (
        "报告单位 × 项目 × 季度 资金收支 Funds by reporting unit, program and quarter",
        "Rows: reporting unit and program; columns: quarter. Cash and in-kind kept apart (rpt_funds_monthly).",
        "pivot_table_v2", "rpt_funds_monthly",
        dict(groupbyRows=["prefecture_name_zh", "program_name_zh"], groupbyColumns=["quarter"],
             metrics=["raised_cash", "spent_cash", "raised_in_kind", "spent_in_kind", "internal_transfers"],
             metricsLayout="COLUMNS", aggregateFunction="Sum", valueFormat=",.0f", adhoc_filters=[],
             row_limit=10000, order_desc=True, rowTotals=False, colTotals=True, rowSubTotals=True,
             transposePivot=False, combineMetric=False)),
    "funds_balance_table": (
        "年度资金结余：年初结余 + 到位资金 − 支出 = 年末结余 Yearly cash balance",
        "Per reporting unit, program, fund source and year, cash only: opening balance (declared in January, else "
        "the previous year's closing; empty in a first year without one) + incoming - spent = closing; "
        "结余口径 says which (rpt_funds_balance).",
        "table", "rpt_funds_balance",
        dict(query_mode="aggregate",
             groupby=["year", "prefecture_name_zh", "program_name_zh", "fund_source_name_zh", "balance_basis"],
             metrics=["opening", "incoming", "spent", "closing", "months"], all_columns=[], percent_metrics=[],
             adhoc_filters=[], order_by_cols=[], timeseries_limit_metric="closing",
             row_limit=1000, server_page_length=10, order_desc=True, table_timestamp_format="smart_date",
             show_cell_bars=False, color_pn=True, include_search=True, allow_render_html=False)),
    "completion_heatmap": (
        "目标完成率：报告单位 × 项目·指标（本年度） Target completion per program and indicator",
        "Actual / target of each program's indicator, latest year, region_level = reporting_unit. Indicators "
        "count unlike things (person-times, persons, yuan), so each keeps its own cell; read a rate against the "
        "share of the year gone (时间进度, in the table below). Empty where persons cannot be counted.",
        "heatmap_v2", "target_completion",
        dict(x_axis="program_indicator", groupby="region_name_zh", metric="completion",
             adhoc_filters=[eq_filter("region_level", "reporting_unit"), sql_filter("is_latest_year"),
                            sql_filter("completion_rate IS NOT NULL")],
             row_limit=10000, linear_color_scheme="schemeRdYlGn", normalize_across="heatmap", normalized=False,
             show_values=True, show_legend=True, legend_type="continuous", sort_x_axis="alpha_asc",
             sort_y_axis="alpha_asc", y_axis_format=".0%", xscale_interval=-1, yscale_interval=-1,
             x_axis_label_rotation=45, left_margin="auto", bottom_margin="auto", value_bounds=[0, 1],
             show_percentage=False)),
    "coverage_by_unit": (
        "各报告单位项目覆盖率（本年度） Coverage by reporting unit and program",
        "Distinct persons reached this year (本年累计 persons_ytd, or a complete line list) / population of the "
        "program's group, latest year, region_level = reporting_unit (rpt_coverage). A program whose persons "
        "cannot be counted has no bar, not a bar at 0.",
        "echarts_timeseries_bar", "coverage",
        dict(BAR, x_axis="region_name_zh", metrics=["coverage"], groupby=["program_name_zh"], y_axis_format=".2%",
             xAxisLabelRotation=45, show_value=True,
             adhoc_filters=[eq_filter("region_level", "reporting_unit"), sql_filter("is_latest_year"),
                            sql_filter("coverage_rate IS NOT NULL")])),
    "completion_table": (
        "目标完成明细（报告单位） Target completion by reporting unit, program and indicator",
        "Target, actual, completion rate, the share of the year gone, where distinct persons come from and the "
        "months reported (rpt_target_completion, region_level = reporting_unit).",
        "table", "target_completion",
        dict(query_mode="aggregate",
             groupby=["year", "region_name_zh", "program_name_zh", "indicator_name_zh", "indicator_unit",
                      "numerator_source"],
             metrics=["target", "actual", "completion", "elapsed", "months"], all_columns=[], percent_metrics=[],
             adhoc_filters=[eq_filter("region_level", "reporting_unit")], order_by_cols=[],
             row_limit=1000, server_page_length=10, order_desc=True, table_timestamp_format="smart_date",
             show_cell_bars=True, color_pn=True, include_search=True, allow_render_html=False)),
    "coverage_table": (
        "覆盖明细（地市） Coverage by prefecture, program and group",
        "Persons reached, population and coverage per prefecture, with where the persons come from and as of "
        "which month; empty where they cannot be counted (rpt_coverage, region_level = prefecture).",
        "table", "coverage",
        dict(query_mode="aggregate",
             groupby=["year", "region_name_zh", "program_name_zh", "population_group_code", "numerator_source",
                      "as_of_period"],
             metrics=["persons", "population_sum", "coverage"], all_columns=[], percent_metrics=[],
             adhoc_filters=[eq_filter("region_level", "prefecture")], order_by_cols=[],
             row_limit=1000, server_page_length=10, order_desc=True, table_timestamp_format="smart_date",
             show_cell_bars=True, color_pn=True, include_search=True, allow_render_html=False)),
    "org_coverage_by_unit": (
        "基层组织覆盖率：各报告单位（最新年度） Grassroots organisational coverage by reporting unit",
        "Townships and villages with a federation, villages with a women's home, with a woman on the 两委, with "
        "the chair on the 两委, as a share of those there are; latest year-end, region_level = reporting_unit "
        "(rpt_org_coverage; Ili's 全州 is 州直 + 塔城 + 阿勒泰).",
        "echarts_timeseries_bar", "org_coverage",
        # values on the bars: most are 90-100%, which the axis alone does not tell apart; one decimal, so that
        # 99.6% never rounds to a 100% that would claim full coverage
        dict(BAR, x_axis="region_name_zh", metrics=["org_coverage"], groupby=["measure_zh"], y_axis_format=".1%",
             xAxisLabelRotation=45, y_axis_bounds=[0, 1], show_value=True,
             adhoc_filters=[eq_filter("region_level", "reporting_unit"), sql_filter("is_latest_year")])),
    "org_coverage_table": (
        "基层组织覆盖明细与全覆盖县（报告单位） Grassroots coverage and counties fully covered",
        "Covered / total per reporting unit and measure, latest year-end, and how many of the counties that "
        "reported the measure are at 100% (rpt_org_coverage, region_level = reporting_unit).",
        "table", "org_coverage",
        dict(query_mode="aggregate", groupby=["year", "region_name_zh", "measure_zh"],
             metrics=["org_covered", "org_total", "org_coverage", "counties_full", "counties_reporting",
                      "counties_full_share"], all_columns=[], percent_metrics=[],
             adhoc_filters=[eq_filter("region_level", "reporting_unit"), sql_filter("is_latest_year")],
             order_by_cols=[], row_limit=1000, server_page_length=10, order_desc=True,
             table_timestamp_format="smart_date", show_cell_bars=True, color_pn=True, include_search=True,
             allow_render_html=False)),
    "yoy_table": (
        "同比（报告单位，最新报送期） Year to date against a year earlier",
        "Year to date and the same months a year earlier, with the months each year reported; a change over "
        "unequal months is empty, never a decline (rpt_year_over_year, region_level = reporting_unit, latest "
        "period).",
        "table", "year_over_year",
        dict(query_mode="aggregate", groupby=["period", "region_name_zh", "program_name_zh", "measure"],
             metrics=["ytd", "ytd_prior", "months_now", "months_prior", "yoy_change_rate"], all_columns=[],
             percent_metrics=[],
             adhoc_filters=[eq_filter("region_level", "reporting_unit"), sql_filter("is_latest_period")],
             order_by_cols=[], row_limit=1000, server_page_length=10, order_desc=True,
             table_timestamp_format="smart_date", show_cell_bars=False, color_pn=True, include_search=True,
             allow_render_html=False)),
    "completeness_heatmap": (
        f"报送完整性与审核：地市 × 月份（{STATUS_SCALE_ZH}） Reporting completeness and approval",
        f"Per prefecture and month, last 24 months: {STATUS_SCALE_EN} (rpt_reporting_completeness; "
        "approval_status = 'approved' is the filter for signed-off figures).",
        "heatmap_v2", "rpt_reporting_completeness",
        dict(x_axis="period", groupby="prefecture_name_zh", metric="status", adhoc_filters=[
            sql_filter(RECENT_MONTHS), sql_filter("expected")],
             row_limit=10000, linear_color_scheme="schemeRdYlGn", normalize_across="heatmap",
             show_values=True, show_legend=True, legend_type="continuous", sort_x_axis="alpha_asc",
             sort_y_axis="alpha_asc", y_axis_format="SMART_NUMBER", xscale_interval=-1, yscale_interval=-1,
             left_margin="auto", bottom_margin="auto", value_bounds=[0, 4], show_percentage=False)),
    "rejected_heatmap": (
        "被拒报送次数：地市 × 月份 Drops rejected",
        "Drops rejected per prefecture and month, last 24 months (rpt_reporting_completeness).",
        "heatmap_v2", "rpt_reporting_completeness",
        dict(x_axis="period", groupby="prefecture_name_zh", metric="rejected", adhoc_filters=[
            sql_filter(RECENT_MONTHS), sql_filter("expected")],
             row_limit=10000, linear_color_scheme="oranges", normalize_across="heatmap",
             show_values=True, show_legend=True, legend_type="continuous", sort_x_axis="alpha_asc",
             sort_y_axis="alpha_asc", y_axis_format="SMART_NUMBER", xscale_interval=-1, yscale_interval=-1,
             left_margin="auto", bottom_margin="auto", value_bounds=[None, None], show_percentage=False)),
    "beneficiaries_by_group": (
        "各受益群体月度受益人数（去重） Distinct beneficiaries per month by group",
        "Distinct eligible beneficiaries per month and beneficiary group (fct_benefits); a person counts once "
        "per month, and months are not to be added up.",
        "echarts_timeseries_line", "beneficiaries_monthly",
        dict(BAR, x_axis="period", metrics=["beneficiaries"], groupby=["group_name_zh"], adhoc_filters=[],
             y_axis_format=",d", markerEnabled=True, markerSize=6, seriesType="line")),
    "county_map": (
        "县级区划分布图 Counties (deck.gl)",
        "Every county of dim_region with coordinates, coloured by nothing: a base for issue 11's maps. "
        "No Mapbox key; tiles only from HALFSKY_TILE_URL, else a blank background.",
        "deck_scatter", "dim_region",
        dict(spatial={"type": "latlong", "lonCol": "longitude", "latCol": "latitude"},
             adhoc_filters=[eq_filter("level", "county"), sql_filter("longitude IS NOT NULL")],
             row_limit=5000, filter_nulls=True, size="regions",
             mapbox_style="tile://https://tile.openstreetmap.org/{z}/{x}/{y}.png",
             viewport={"longitude": 104.0, "latitude": 37.5, "zoom": 3.2, "bearing": 0, "pitch": 0},
             autozoom=True, point_radius_fixed={"type": "fix", "value": 4000}, point_unit="square_m",
             min_radius=2, max_radius=250, multiplier=1, color_picker={"r": 205, "g": 0, "b": 90, "a": 0.8},
             js_columns=[], js_data_mutator="", js_tooltip="", js_onclick_href="",
             dimension=None, color_scheme="supersetColors", legend_position="tr")),
}

# slug: (title, description, rows [[(chart key, width), ...], ...])
DASHBOARDS = {
    "halfsky-funds-targets": (
        "半边天 · 资金与目标 (halfsky funds & targets)",
        # full width from the balance on: the tables have a dozen columns, and the rates' labels need room
        [[("funds_by_quarter", 12)], [("funds_pivot", 12)], [("funds_balance_table", 12)],
         [("completion_heatmap", 12)], [("completion_table", 12)],
         [("coverage_by_unit", 12)], [("coverage_table", 12)],
         [("org_coverage_by_unit", 12)], [("org_coverage_table", 12)],
         [("yoy_table", 12)]]),
    "halfsky-reporting-beneficiaries": (
        "半边天 · 报送与受益 (halfsky reporting & beneficiaries)",
        [[("completeness_heatmap", 12)], [("rejected_heatmap", 6), ("beneficiaries_by_group", 6)],
         [("county_map", 12)]]),
}


def chart_yaml(key: str) -> dict:
    name, desc, viz, ds, params = CHARTS[key]
    return dict(slice_name=name, description=desc, certified_by=None, certification_details=None,
                viz_type=viz, params={"datasource": "1__table", "viz_type": viz, **params},
                query_context=None, cache_timeout=None, uuid=uid("chart", key), version="1.0.0",
                dataset_uuid=uid("dataset", f"{SCHEMA}.{ds}"))


def dashboard_yaml(slug: str, charts: set[str]) -> dict:
    """The dashboard with the ``charts`` of its rows that are built (a row left empty is dropped)."""
    title, all_rows = DASHBOARDS[slug]
    rows = [r for r in ([(key, width) for key, width in row if key in charts] for row in all_rows) if r]
    pos = {"DASHBOARD_VERSION_KEY": "v2",
           "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
           "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
           "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": title}}}
    n = 0
    for i, row in enumerate(rows, 1):
        rid = f"ROW-{i}"
        pos["GRID_ID"]["children"].append(rid)
        pos[rid] = {"type": "ROW", "id": rid, "children": [], "parents": ["ROOT_ID", "GRID_ID"],
                    "meta": {"background": "BACKGROUND_TRANSPARENT"}}
        for key, width in row:
            n += 1
            cid = f"CHART-{key}"
            pos[rid]["children"].append(cid)
            height = 80 if CHARTS[key][2] in ("pivot_table_v2", "deck_scatter", "table") else 60
            pos[cid] = {"type": "CHART", "id": cid, "children": [], "parents": ["ROOT_ID", "GRID_ID", rid],
                        "meta": {"chartId": n, "uuid": uid("chart", key), "sliceName": CHARTS[key][0],
                                 "width": width, "height": height}}
    meta = {"color_scheme": "", "refresh_frequency": 0, "expanded_slices": {}, "label_colors": {},
            "timed_refresh_immune_slices": [], "cross_filters_enabled": False, "native_filter_configuration": [],
            "chart_configuration": {}, "default_filters": "{}", "shared_label_colors": [], "map_label_colors": {},
            "color_scheme_domain": []}
    return dict(dashboard_title=title, description=None, css=None, slug=slug, certified_by=None,
                certification_details=None, published=True, uuid=uid("dashboard", slug), position=pos,
                metadata=meta, theme_uuid=None, version="1.0.0")


def dump(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=110))


def main() -> None:
    dsn = os.environ.get("AIRFLOW_CONN_WAREHOUSE_DB") or os.environ["WAREHOUSE_DSN"]
    dsn = "postgresql://" + dsn.partition("://")[2]
    shutil.rmtree(OUT, ignore_errors=True)
    dump(OUT / "metadata.yaml", {"version": "1.0.0", "type": "assets", "timestamp": "2026-11-24T00:00:00+00:00"})
    dump(OUT / "databases" / f"{DB_NAME}.yaml", dict(
        database_name=DB_NAME,
        # host, port and database come from the warehouse DSN at import (halfsky_dev.bi); the password too
        sqlalchemy_uri="postgresql+psycopg2://halfsky_analyst:XXXXXXXXXX@127.0.0.1:5432/halfsky",
        cache_timeout=None, expose_in_sqllab=True, allow_run_async=False, allow_ctas=False, allow_cvas=False,
        allow_dml=False, allow_file_upload=False,
        extra={"schemas_allowed_for_file_upload": [],
               "engine_params": {"connect_args": {"application_name": "superset"}}},
        impersonate_user=False, configuration_method="sqlalchemy_form", uuid=uid("database", DB_NAME),
        version="1.0.0"))
    with psycopg.connect(dsn) as conn:
        relations = {r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = %s", (SCHEMA,)).fetchall()}
        # a dataset whose mart this warehouse does not have yet (an older checkout) is left out with its charts,
        # so the other dashboards still build; say so, since the committed YAML should have them all
        datasets = {name for name, spec in DATASETS.items() if "requires" not in spec or spec["requires"] in relations}
        for name in DATASETS.keys() - datasets:
            print(f"warning: marts.{DATASETS[name]['requires']} is not in this warehouse: dataset {name} and its "
                  "charts left out")
        for name in DATASETS:
            if name in datasets:
                dump(OUT / "datasets" / DB_NAME / f"{name}.yaml", dataset_yaml(conn, name, DATASETS[name]))
    charts = {key for key, chart in CHARTS.items() if chart[3] in datasets}
    for key in CHARTS:
        if key in charts:
            dump(OUT / "charts" / f"{key}.yaml", chart_yaml(key))
    for slug in DASHBOARDS:
        dump(OUT / "dashboards" / f"{slug}.yaml", dashboard_yaml(slug, charts))
    print(f"wrote {sum(1 for _ in OUT.rglob('*.yaml'))} files under {OUT}")


if __name__ == "__main__":
    main()
