"""The dashboards as code (deploy/superset/assets) as `make bi` sends them to Superset, checked without a
Superset: the bundle's shape, that it names the warehouse it is given and no password, that every chart,
dataset and dashboard is tied by UUID to something in the bundle, and that dbt's exposures name them."""

from __future__ import annotations

import io
import zipfile

import yaml

from conftest import REPO_ROOT


def _bundle(monkeypatch, dsn="postgresql://postgres:s3cret@10.1.2.3:6543/halfsky_prod"):
    from halfsky import bi

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
