#!/usr/bin/env python3
"""Write halfsky's Superset dashboards as code: deploy/superset/assets/*.yaml (Superset 6.1 import format).

    source .halfsky/env.sh && .venv/bin/python deploy/superset/build_assets.py

The charts, datasets and dashboards are declared below; column types come from the warehouse
(information_schema, so run it after `make demo`). Every object gets a stable uuid5, so a re-import
(`make bi`, /api/v1/assets/import/) overwrites in place. The database file holds no host and no
password: halfsky.bi fills the URI in from the warehouse DSN and sends the analyst's password with
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
#           metrics [(name, sql, zh, en, d3format)])
QUARTER_SQL = "left(period, 4) || '-Q' || ((substr(period, 6, 2)::int + 2) / 3)::text"
STATUS_SCORE = ("CASE WHEN status = 'accepted' AND on_time THEN 3 WHEN status = 'accepted' THEN 2 "
                "WHEN submitted THEN 1 ELSE 0 END")
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
    "rpt_funds_balance": dict(
        table="rpt_funds_balance",
        description="Funds raised and spent per month, prefecture (reporting unit), program and fund source; "
                    "internal transfers are excluded from spent, in-kind goods kept apart from cash "
                    "(marts.rpt_funds_balance, contract v2).",
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
            "cash_balance_to_date_yuan": ("累计现金结余（元）", "Cash balance to date, yuan"),
            "in_kind_balance_to_date_yuan": ("累计实物结余（元）", "In-kind balance to date, yuan"),
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
    "target_completion": dict(
        # a view of the mart with the latest year marked: Superset refuses sub-queries in a chart's filters
        sql=LATEST_SQL.format(t="rpt_target_completion"),
        description="Annual targets against actuals per region level, region, program and indicator "
                    "(marts.rpt_target_completion, contract v2).",
        labels={
            **REGION_YEAR_LABELS,
            "program_code": ("项目代码", "Program code"),
            "indicator_code": ("指标代码", "Indicator code"),
            "target_value": ("目标值", "Target for the year"),
            "actual_value": ("完成值", "Actual so far"),
            "completion_rate": ("完成率", "Actual / target (fraction)"),
            "year_elapsed_share": ("时间进度", "Share of the year gone (fraction), to read a completion rate against"),
            "is_latest_year": ("最新年度", "The latest year in the mart"),
        },
        calculated=[],
        metrics=[
            ("target", "SUM(target_value)", "目标值", "Target", ",.0f"),
            ("actual", "SUM(actual_value)", "完成值", "Actual", ",.0f"),
            ("completion", "SUM(actual_value) / NULLIF(SUM(target_value), 0)", "完成率",
             "Actual / target", ".1%"),
            ("avg_completion", "AVG(completion_rate)", "平均完成率",
             "Mean completion rate over indicators", ".1%"),
            ("elapsed", "MAX(year_elapsed_share)", "时间进度", "Share of the year gone", ".1%"),
        ],
    ),
    "coverage": dict(
        sql=LATEST_SQL.format(t="rpt_coverage"),
        description="Distinct eligible persons reached against the population of the program's group, per "
                    "region level and region (marts.rpt_coverage, contract v2).",
        labels={
            **REGION_YEAR_LABELS,
            "program_code": ("项目代码", "Program code"),
            "population_group_code": ("人群代码", "Population group of the program"),
            "persons_reached": ("覆盖人数", "Distinct eligible persons reached"),
            "population": ("人口基数", "Population of the group"),
            "coverage_rate": ("覆盖率", "Persons reached / population (fraction); null without a denominator"),
            "is_latest_year": ("最新年度", "The latest year in the mart"),
        },
        calculated=[],
        metrics=[
            ("persons", "SUM(persons_reached)", "覆盖人数", "Distinct persons reached (do not add across regions' levels)", ",d"),
            ("population_sum", "SUM(population)", "人口基数", "Population", ",.0f"),
            ("coverage", "SUM(persons_reached) / NULLIF(SUM(population), 0)", "覆盖率",
             "Persons reached / population", ".2%"),
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
        },
        calculated=[("status_score", STATUS_SCORE, "INTEGER", "报送状态分",
                     "3 accepted on time, 2 accepted late, 1 submitted not accepted (rejected), 0 missing")],
        metrics=[
            ("status", f"MAX({STATUS_SCORE})", "报送状态（3按时 2迟报 1被拒 0未报）",
             "3 accepted on time, 2 accepted late, 1 submitted but not accepted, 0 missing", "d"),
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
        "Cash and in-kind raised and spent per quarter; internal transfers are not spent (rpt_funds_balance).",
        "echarts_timeseries_bar", "rpt_funds_balance",
        dict(BAR, x_axis="quarter", metrics=["raised_cash", "spent_cash", "raised_in_kind", "spent_in_kind"],
             groupby=[], adhoc_filters=[], x_axis_title="季度", x_axis_title_margin=15)),
    "funds_pivot": (
        "报告单位 × 项目 × 季度 资金收支 Funds by reporting unit, program and quarter",
        "Rows: reporting unit and program; columns: quarter. Cash and in-kind kept apart (rpt_funds_balance).",
        "pivot_table_v2", "rpt_funds_balance",
        dict(groupbyRows=["prefecture_name_zh", "program_name_zh"], groupbyColumns=["quarter"],
             metrics=["raised_cash", "spent_cash", "raised_in_kind", "spent_in_kind", "internal_transfers"],
             metricsLayout="COLUMNS", aggregateFunction="Sum", valueFormat=",.0f", adhoc_filters=[],
             row_limit=10000, order_desc=True, rowTotals=False, colTotals=True, rowSubTotals=True,
             transposePivot=False, combineMetric=False)),
    "completion_by_unit": (
        "各报告单位平均目标完成率（本年度） Mean target completion by reporting unit",
        "Mean completion rate over the programs' indicators, latest year, region_level = reporting_unit; "
        "the line of the year gone is in the table below.",
        "echarts_timeseries_bar", "target_completion",
        dict(BAR, x_axis="region_name_zh", metrics=["avg_completion", "elapsed"], groupby=[],
             y_axis_format=".0%", xAxisLabelRotation=45,
             adhoc_filters=[eq_filter("region_level", "reporting_unit"),
                            sql_filter("is_latest_year")])),
    "coverage_by_unit": (
        "各报告单位项目覆盖率（本年度） Coverage by reporting unit and program",
        "Distinct eligible persons reached / population of the program's group, latest year, "
        "region_level = reporting_unit (rpt_coverage).",
        "echarts_timeseries_bar", "coverage",
        dict(BAR, x_axis="region_name_zh", metrics=["coverage"], groupby=["program_code"], y_axis_format=".2%", xAxisLabelRotation=45,
             adhoc_filters=[eq_filter("region_level", "reporting_unit"),
                            sql_filter("is_latest_year")])),
    "completion_table": (
        "目标完成明细（报告单位） Target completion by reporting unit, program and indicator",
        "Target, actual, completion rate and the share of the year gone (rpt_target_completion, "
        "region_level = reporting_unit).",
        "table", "target_completion",
        dict(query_mode="aggregate", groupby=["year", "region_name_zh", "program_code", "indicator_code"],
             metrics=["target", "actual", "completion", "elapsed"], all_columns=[], percent_metrics=[],
             adhoc_filters=[eq_filter("region_level", "reporting_unit")], order_by_cols=[],
             row_limit=1000, server_page_length=10, order_desc=True, table_timestamp_format="smart_date",
             show_cell_bars=True, color_pn=True, include_search=True, allow_render_html=False)),
    "coverage_table": (
        "覆盖明细（地市） Coverage by prefecture, program and group",
        "Persons reached, population and coverage per prefecture (rpt_coverage, region_level = prefecture).",
        "table", "coverage",
        dict(query_mode="aggregate", groupby=["year", "region_name_zh", "program_code", "population_group_code"],
             metrics=["persons", "population_sum", "coverage"], all_columns=[], percent_metrics=[],
             adhoc_filters=[eq_filter("region_level", "prefecture")], order_by_cols=[],
             row_limit=1000, server_page_length=10, order_desc=True, table_timestamp_format="smart_date",
             show_cell_bars=True, color_pn=True, include_search=True, allow_render_html=False)),
    "completeness_heatmap": (
        "报送完整性：地市 × 月份（3按时 2迟报 1被拒 0未报） Reporting completeness",
        "Per prefecture and month, last 24 months: 3 accepted on time, 2 accepted late, "
        "1 submitted but not accepted (rejected), 0 missing (rpt_reporting_completeness).",
        "heatmap_v2", "rpt_reporting_completeness",
        dict(x_axis="period", groupby="prefecture_name_zh", metric="status", adhoc_filters=[
            sql_filter(RECENT_MONTHS), sql_filter("expected")],
             row_limit=10000, linear_color_scheme="schemeRdYlGn", normalize_across="heatmap",
             show_values=True, show_legend=True, legend_type="continuous", sort_x_axis="alpha_asc",
             sort_y_axis="alpha_asc", y_axis_format="SMART_NUMBER", xscale_interval=-1, yscale_interval=-1,
             left_margin="auto", bottom_margin="auto", value_bounds=[0, 3], show_percentage=False)),
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
        [[("funds_by_quarter", 12)], [("funds_pivot", 12)],
         [("completion_by_unit", 6), ("coverage_by_unit", 6)],
         [("completion_table", 6), ("coverage_table", 6)]]),
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


def dashboard_yaml(slug: str) -> dict:
    title, rows = DASHBOARDS[slug]
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
        # host, port and database come from the warehouse DSN at import (halfsky.bi); the password too
        sqlalchemy_uri="postgresql+psycopg2://halfsky_analyst:XXXXXXXXXX@127.0.0.1:5432/halfsky",
        cache_timeout=None, expose_in_sqllab=True, allow_run_async=False, allow_ctas=False, allow_cvas=False,
        allow_dml=False, allow_file_upload=False,
        extra={"schemas_allowed_for_file_upload": [],
               "engine_params": {"connect_args": {"application_name": "superset"}}},
        impersonate_user=False, configuration_method="sqlalchemy_form", uuid=uid("database", DB_NAME),
        version="1.0.0"))
    with psycopg.connect(dsn) as conn:
        for name, spec in DATASETS.items():
            dump(OUT / "datasets" / DB_NAME / f"{name}.yaml", dataset_yaml(conn, name, spec))
    for key in CHARTS:
        dump(OUT / "charts" / f"{key}.yaml", chart_yaml(key))
    for slug in DASHBOARDS:
        dump(OUT / "dashboards" / f"{slug}.yaml", dashboard_yaml(slug))
    print(f"wrote {sum(1 for _ in OUT.rglob('*.yaml'))} files under {OUT}")


if __name__ == "__main__":
    main()
