"""The dashboards as code (deploy/superset/assets) as `make bi` sends them to Superset, checked without a
Superset: the bundle's shape, that it names the warehouse it is given and no password, that every chart,
dataset and dashboard is tied by UUID to something in the bundle, and that dbt's exposures name them."""

from __future__ import annotations

import io
import zipfile

import yaml

from conftest import REPO_ROOT


def _bundle(monkeypatch, dsn="postgresql://postgres:s3cret@10.1.2.3:6543/halfsky_prod"):
    from halfsky_dev import bi
    monkeypatch.setenv("HALFSKY_WAREHOUSE_DSN", dsn)
    monkeypatch.setenv("WAREHOUSE_DSN", dsn)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_DB", dsn)
    monkeypatch.delenv("HALFSKY_TILE_URL", raising=False)
    data, databases = bi.bundle()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: yaml.safe_load(z.read(n)) for n in z.namelist()}, databases, data


def test_the_bundle_points_at_the_warehouse_as_the_analyst_and_holds_no_password(monkeypatch):
    files, databases, raw = _bundle(monkeypatch)
    assert {n.split("/")[0] for n in files} == {"halfsky_assets"}, "one top folder, which the importer strips"
    assert files["halfsky_assets/metadata.yaml"]["type"] == "assets"
    (database,) = [files[f"halfsky_assets/{d}"] for d in databases]
    assert database["sqlalchemy_uri"] == "postgresql+psycopg2://halfsky_analyst:XXXXXXXXXX@10.1.2.3:6543/halfsky_prod"
    assert not database["allow_dml"]
    assert b"s3cret" not in raw


def test_every_object_is_tied_by_uuid_to_one_in_the_bundle(monkeypatch):
    files, _, _ = _bundle(monkeypatch)
    of = lambda kind: {n: d for n, d in files.items() if n.startswith(f"halfsky_assets/{kind}/")}  # noqa: E731
    databases, datasets, charts, dashboards = of("databases"), of("datasets"), of("charts"), of("dashboards")
    uuids = [d["uuid"] for group in (databases, datasets, charts, dashboards) for d in group.values()]
    assert len(uuids) == len(set(uuids)), "UUIDs are unique"
    assert {d["database_uuid"] for d in datasets.values()} <= {d["uuid"] for d in databases.values()}
    assert {c["dataset_uuid"] for c in charts.values()} <= {d["uuid"] for d in datasets.values()}
    placed = {node["meta"]["uuid"] for d in dashboards.values() for node in d["position"].values()
              if isinstance(node, dict) and node.get("type") == "CHART"}
    assert placed == {c["uuid"] for c in charts.values()}, "every chart is on a dashboard, and only those"
    assert len(dashboards) >= 2 and len(charts) >= 8


def test_dbt_exposures_name_each_dashboard_and_the_marts_it_reads(monkeypatch):
    files, _, _ = _bundle(monkeypatch)
    slugs = {d["slug"] for n, d in files.items() if n.startswith("halfsky_assets/dashboards/")}
    exposures = yaml.safe_load((REPO_ROOT / "dbt_project" / "models" / "marts" / "_exposures.yml").read_text())["exposures"]
    assert {e["url"].rstrip("/").rsplit("/", 1)[1] for e in exposures} == slugs
    read = {t.strip() for n, d in files.items() if n.startswith("halfsky_assets/datasets/")
            for t in [d.get("table_name", "")]} | {
        word.split(".")[1].strip('",() ') for n, d in files.items() if n.startswith("halfsky_assets/datasets/") and d.get("sql")
        for word in d["sql"].split() if word.startswith("marts.")}
    declared = {ref.split("'")[1] for e in exposures for ref in e["depends_on"]}
    marts = {t for t in read if t.startswith(("dim_", "fct_", "rpt_"))}
    assert marts and marts <= declared, f"exposures miss {marts - declared}"


def _datasets_and_charts(monkeypatch):
    files, _, _ = _bundle(monkeypatch)
    datasets = {d["uuid"]: d for n, d in files.items() if n.startswith("halfsky_assets/datasets/")}
    charts = {n.rsplit("/", 1)[1].removesuffix(".yaml"): c for n, c in files.items()
              if n.startswith("halfsky_assets/charts/")}
    return datasets, charts


def _names(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def test_every_chart_reads_columns_and_metrics_its_dataset_has(monkeypatch):
    """A mart that changes shape (v3: rpt_funds_balance became yearly, its months moved to rpt_funds_monthly)
    must not leave a chart asking for a column that is gone: Superset would show an error in its place."""
    datasets, charts = _datasets_and_charts(monkeypatch)
    for key, chart in charts.items():
        dataset, params = datasets[chart["dataset_uuid"]], chart["params"]
        columns = {c["column_name"] for c in dataset["columns"]}
        metrics = {m["metric_name"] for m in dataset["metrics"]}
        used = [*_names(params.get("x_axis")), *_names(params.get("groupby")), *_names(params.get("groupbyRows")),
                *_names(params.get("groupbyColumns"))]
        used += [f["subject"] for f in params.get("adhoc_filters", []) if f["expressionType"] == "SIMPLE"]
        assert set(used) <= columns, f"{key}: {set(used) - columns} not in {dataset['table_name']}"
        wanted = [*_names(params.get("metrics")), *_names(params.get("metric"))]
        assert set(wanted) <= metrics, f"{key}: metrics {set(wanted) - metrics} not in {dataset['table_name']}"


def test_the_quarter_charts_read_the_monthly_funds_and_the_balance_is_yearly(monkeypatch):
    datasets, charts = _datasets_and_charts(monkeypatch)
    table = lambda key: datasets[charts[key]["dataset_uuid"]]["table_name"]  # noqa: E731
    assert table("funds_by_quarter") == table("funds_pivot") == "rpt_funds_monthly"
    balance = {c["column_name"] for c in datasets[charts["funds_balance_table"]["dataset_uuid"]]["columns"]}
    assert {"year", "opening_balance_yuan", "incoming_yuan", "spent_yuan", "closing_balance_yuan",
            "balance_basis"} <= balance
    assert {"balance_basis", "year"} <= set(charts["funds_balance_table"]["params"]["groupby"])


def test_no_metric_averages_rates_of_unlike_indicators(monkeypatch):
    """A completion rate of person-times and one of yuan do not average into anything (issue 23)."""
    datasets, _ = _datasets_and_charts(monkeypatch)
    for dataset in datasets.values():
        for metric in dataset["metrics"]:
            assert "AVG(" not in metric["expression"].upper().replace(" ", ""), \
                f"{dataset['table_name']}.{metric['metric_name']} averages: {metric['expression']}"


def test_coverage_reads_as_a_percent_with_decimals_and_unknown_is_not_drawn(monkeypatch):
    """Coverage of a few per cent must not read 0%, and a program whose persons cannot be counted (rate null,
    contract v3) must have no bar rather than one at 0."""
    datasets, charts = _datasets_and_charts(monkeypatch)
    coverage = datasets[charts["coverage_by_unit"]["dataset_uuid"]]
    (metric,) = [m for m in coverage["metrics"] if m["metric_name"] == "coverage"]
    params = charts["coverage_by_unit"]["params"]
    for fmt in (metric["d3format"], params["y_axis_format"]):
        assert fmt.endswith("%") and int(fmt.rstrip("%").rpartition(".")[2] or 0) >= 2, fmt
    assert any(f["expressionType"] == "SQL" and f["sqlExpression"].replace(" ", "") == "coverage_rateISNOTNULL"
               for f in params["adhoc_filters"])
    columns = {c["column_name"] for c in coverage["columns"]}
    assert {"numerator_source", "as_of_period", "months_reported", "months_reported_prior_year"} <= columns


def _build_assets():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_assets", REPO_ROOT / "deploy" / "superset" / "build_assets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_organisational_coverage_is_charted_per_measure_with_the_counties_fully_covered():
    """Contract v3's rpt_org_coverage (the seeds' 全覆盖 and 100% claims): one rate per measure and reporting unit
    (covered / total, never a mean of rates) and the counties at 100% of those that reported. Read from the
    declarations, since build_assets leaves the dataset out of a warehouse that lacks the mart."""
    build = _build_assets()
    dataset = build.DATASETS["org_coverage"]
    assert dataset["requires"] == "rpt_org_coverage" and "marts.rpt_org_coverage" in dataset["sql"]
    contract = {"year", "region_level", "region_code", "region_name_zh", "region_name_en", "measure", "covered",
                "total", "coverage_rate", "is_fully_covered", "counties", "counties_fully_covered"}
    assert contract <= dataset["labels"].keys(), "every column of the mart has a Chinese label and a description"
    metrics = {name: expression for name, expression, *_ in dataset["metrics"]}
    _, _, viz, source, params = build.CHARTS["org_coverage_by_unit"]
    assert source == "org_coverage" and params["groupby"] == ["measure_zh"] and params["metrics"] == ["org_coverage"]
    assert metrics["org_coverage"].replace(" ", "") == "SUM(covered)::numeric/NULLIF(SUM(total),0)"
    assert {f.get("comparator") for f in params["adhoc_filters"]} >= {"reporting_unit"}
    _, _, _, source, params = build.CHARTS["org_coverage_table"]
    assert source == "org_coverage" and {"counties_full", "counties_reporting"} <= set(params["metrics"])
    placed = {key for _, rows in build.DASHBOARDS.values() for row in rows for key, _ in row}
    assert {"org_coverage_by_unit", "org_coverage_table"} <= placed
