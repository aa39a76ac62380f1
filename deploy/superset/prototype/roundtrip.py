#!/usr/bin/env python3
"""Superset 6.1.0 REST round trip for halfsky (requests only).

    build  -> database (halfsky_analyst, read-only) + dataset on marts.rpt_funds_balance
              (zh labels, en descriptions) + 3 charts (bar, heatmap, pivot) + 1 dashboard
    export -> GET /api/v1/dashboard/export/?q=!(id)   (zip, unpacked to ./export/)
    delete -> dashboard, charts, dataset, database
    import -> POST /api/v1/dashboard/import/ (multipart formData + passwords + overwrite)
    verify -> dashboard, its charts and each chart's data come back

Usage:  python roundtrip.py [all|build|import BUNDLE_DIR_OR_ZIP|assets BUNDLE_DIR_OR_ZIP]
Env:    SUPERSET_URL (http://127.0.0.1:8088), SUPERSET_ADMIN_USER (admin),
        SUPERSET_ADMIN_PASSWORD (else /tmp/superset-proto/.admin_password),
        HALFSKY_ANALYST_PASSWORD (else /work/main/.halfsky/analyst_password),
        HALFSKY_DB_HOST/HALFSKY_DB_PORT/HALFSKY_DB_NAME (127.0.0.1/5432/halfsky)
"""
from __future__ import annotations

import io
import json
import os
import shutil
import sys
import time
import uuid
import zipfile
from pathlib import Path
from urllib.parse import quote

import requests

HERE = Path(__file__).resolve().parent
BASE = os.environ.get("SUPERSET_URL", "http://127.0.0.1:8088").rstrip("/")
NS = uuid.UUID("6f1b0c1e-4d2a-5b9e-9c1a-000000000000")  # fixed namespace -> stable UUIDs

DB_NAME = "halfsky_marts"
SCHEMA, TABLE = "marts", "rpt_funds_balance"
DASH_SLUG = "halfsky-funds"
DASH_TITLE = "半边天 · 资金收支 (halfsky funds)"


def stable_uuid(kind: str, name: str) -> str:
    return str(uuid.uuid5(NS, f"halfsky/{kind}/{name}"))


def secret(env: str, path: str) -> str:
    return os.environ.get(env) or Path(path).read_text().strip()


class Superset:
    def __init__(self, base: str, user: str, password: str):
        self.base = base
        self.s = requests.Session()
        t = time.monotonic()
        r = self.s.post(f"{base}/api/v1/security/login",
                        json={"username": user, "password": password,
                              "provider": "db", "refresh": True}, timeout=30)
        r.raise_for_status()
        self.s.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        # csrf_token needs the JWT; it also sets the `session` cookie the token is bound to
        r = self.s.get(f"{base}/api/v1/security/csrf_token/", timeout=30)
        r.raise_for_status()
        self.s.headers["X-CSRFToken"] = r.json()["result"]
        self.s.headers["Referer"] = base  # only checked over https, harmless here
        print(f"login + csrf: {time.monotonic() - t:.2f}s")

    def req(self, method: str, path: str, ok=(200, 201), **kw):
        r = self.s.request(method, f"{self.base}{path}", timeout=120, **kw)
        if r.status_code not in ok:
            raise RuntimeError(f"{method} {path} -> {r.status_code}: {r.text[:2000]}")
        return r

    def j(self, method: str, path: str, **kw):
        return self.req(method, path, **kw).json()

    def find(self, resource: str, col: str, value: str) -> list[int]:
        q = f"(filters:!((col:{col},opr:eq,value:'{value}')),page_size:100)"
        return [row["id"] for row in self.j("GET", f"/api/v1/{resource}/?q={q}")["result"]]


# ---------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------
COLUMN_LABELS = {  # column -> (zh verbose_name, en description)
    "prefecture_code": ("地市代码", "Prefecture code (GB/T 2260)"),
    "prefecture_name_zh": ("地市", "Prefecture / league / city"),
    "period": ("月份", "Reporting month, YYYY-MM"),
    "program_code": ("项目代码", "Program code"),
    "program_name_zh": ("项目", "Program"),
    "fund_source_code": ("资金来源代码", "Fund source code"),
    "fund_source_name_zh": ("资金来源", "Fund source"),
    "incoming_cash_yuan": ("现金收入（元）", "Incoming cash, yuan"),
    "incoming_in_kind_yuan": ("实物收入（元）", "Incoming in-kind value, yuan"),
    "raised_yuan": ("募集金额（元）", "Raised (cash + in kind), yuan"),
    "spent_cash_yuan": ("现金支出（元）", "Cash spent, yuan"),
    "spent_in_kind_yuan": ("实物支出（元）", "In-kind value spent, yuan"),
    "internal_transfers_yuan": ("内部划转（元）", "Internal transfers, yuan"),
    "cash_balance_to_date_yuan": ("累计现金结余（元）", "Cash balance to date, yuan"),
    "in_kind_balance_to_date_yuan": ("累计实物结余（元）", "In-kind balance to date, yuan"),
}
METRICS = [  # metric_name, expression, zh label, en description
    ("raised_yuan_sum", "SUM(raised_yuan)", "募集金额（元）", "Sum of funds raised (cash + in kind), yuan"),
    ("spent_cash_yuan_sum", "SUM(spent_cash_yuan)", "现金支出（元）", "Sum of cash spent, yuan"),
]
COL_PUT_KEYS = {"id", "column_name", "type", "verbose_name", "description", "expression",
                "filterable", "groupby", "is_active", "is_dttm", "python_date_format", "uuid"}
MET_PUT_KEYS = {"id", "metric_name", "expression", "metric_type", "verbose_name",
                "description", "d3format", "warning_text", "uuid"}


def sqlalchemy_uri(password: str) -> str:
    host = os.environ.get("HALFSKY_DB_HOST", "127.0.0.1")
    port = os.environ.get("HALFSKY_DB_PORT", "5432")
    name = os.environ.get("HALFSKY_DB_NAME", "halfsky")
    return f"postgresql+psycopg2://halfsky_analyst:{quote(password, safe='')}@{host}:{port}/{name}"


def delete_all(sp: Superset) -> None:
    """Delete dashboard -> charts -> dataset -> database (FK order)."""
    for did in sp.find("dashboard", "slug", DASH_SLUG):
        for c in sp.j("GET", f"/api/v1/dashboard/{did}/charts")["result"]:
            sp.req("DELETE", f"/api/v1/chart/{c['id']}")
        sp.req("DELETE", f"/api/v1/dashboard/{did}")
    for dbid in sp.find("database", "database_name", DB_NAME):
        for dsid in sp.find("dataset", "table_name", TABLE):
            sp.req("DELETE", f"/api/v1/dataset/{dsid}")
        sp.req("DELETE", f"/api/v1/database/{dbid}")


def build(sp: Superset, analyst_pw: str) -> int:
    uri = sqlalchemy_uri(analyst_pw)
    sp.req("POST", "/api/v1/database/test_connection/",
           json={"database_name": DB_NAME, "sqlalchemy_uri": uri})
    db = sp.j("POST", "/api/v1/database/", json={
        "database_name": DB_NAME,
        "sqlalchemy_uri": uri,
        "uuid": stable_uuid("database", DB_NAME),
        "expose_in_sqllab": True,
        "allow_dml": False, "allow_ctas": False, "allow_cvas": False,
        "allow_file_upload": False, "allow_run_async": False,
        "extra": json.dumps({"schemas_allowed_for_file_upload": [],
                             "engine_params": {"connect_args": {"application_name": "superset"}}}),
    })
    db_id = db["id"]
    print("database", db_id)

    ds = sp.j("POST", "/api/v1/dataset/", json={
        "database": db_id, "schema": SCHEMA, "table_name": TABLE,
        "uuid": stable_uuid("dataset", f"{SCHEMA}.{TABLE}")})
    ds_id = ds["id"]
    full = sp.j("GET", f"/api/v1/dataset/{ds_id}")["result"]
    cols = []
    for c in full["columns"]:
        c = {k: v for k, v in c.items() if k in COL_PUT_KEYS and v is not None}
        zh, en = COLUMN_LABELS.get(c["column_name"], (None, None))
        if zh:
            c.update(verbose_name=zh, description=en)
        cols.append(c)
    mets = [{k: v for k, v in m.items() if k in MET_PUT_KEYS and v is not None}
            for m in full["metrics"]]
    for name, expr, zh, en in METRICS:
        mets.append({"metric_name": name, "expression": expr, "verbose_name": zh,
                     "description": en, "d3format": ",.2f",
                     "uuid": stable_uuid("metric", name)})
    sp.req("PUT", f"/api/v1/dataset/{ds_id}", json={
        "columns": cols, "metrics": mets,
        "description": "Monthly funds in/out and balance by prefecture, program and fund source "
                       "(marts.rpt_funds_balance)"})
    print("dataset", ds_id)

    dash = sp.j("POST", "/api/v1/dashboard/", json={
        "dashboard_title": DASH_TITLE, "slug": DASH_SLUG, "published": True,
        "uuid": stable_uuid("dashboard", DASH_SLUG)})
    dash_id = dash["id"]

    ds_uid = f"{ds_id}__table"
    charts_spec = [
        ("各地市募集与支出 (raised vs spent)", "echarts_timeseries_bar", {
            "x_axis": "prefecture_name_zh", "xAxisForceCategorical": True,
            "metrics": ["raised_yuan_sum", "spent_cash_yuan_sum"], "groupby": [],
            "adhoc_filters": [], "row_limit": 10000, "order_desc": True,
            "orientation": "vertical", "show_legend": True, "rich_tooltip": True,
            "y_axis_format": "SMART_NUMBER", "x_axis_sort_asc": True,
            "comparison_type": "values", "truncate_metric": True,
        }, {"columns": ["prefecture_name_zh"],
            "metrics": ["raised_yuan_sum", "spent_cash_yuan_sum"],
            "orderby": [["raised_yuan_sum", False]]}),
        ("地市 × 月份 募集热力图 (heatmap)", "heatmap_v2", {
            "x_axis": "period", "groupby": "prefecture_name_zh", "metric": "raised_yuan_sum",
            "adhoc_filters": [], "row_limit": 10000, "linear_color_scheme": "superset_seq_1",
            "normalize_across": "heatmap", "show_values": True, "show_legend": True,
            "legend_type": "continuous", "sort_x_axis": "alpha_asc", "sort_y_axis": "alpha_asc",
            "y_axis_format": "SMART_NUMBER", "xscale_interval": -1, "yscale_interval": -1,
            "left_margin": "auto", "bottom_margin": "auto", "value_bounds": [None, None],
        }, {"columns": ["period", "prefecture_name_zh"], "metrics": ["raised_yuan_sum"]}),
        ("地市 × 月份 透视表 (pivot)", "pivot_table_v2", {
            "groupbyRows": ["prefecture_name_zh"], "groupbyColumns": ["period"],
            "metrics": ["raised_yuan_sum"], "metricsLayout": "COLUMNS",
            "aggregateFunction": "Sum", "valueFormat": "SMART_NUMBER",
            "adhoc_filters": [], "row_limit": 10000, "order_desc": True,
            "rowTotals": True, "colTotals": True,
        }, {"columns": ["prefecture_name_zh", "period"], "metrics": ["raised_yuan_sum"]}),
    ]
    charts = []
    for name, viz, params, q in charts_spec:
        form = {"datasource": ds_uid, "viz_type": viz, **params}
        qc = {"datasource": {"id": ds_id, "type": "table"}, "force": False,
              "queries": [{"filters": [], "extras": {}, "row_limit": 10000, **q}],
              "form_data": form, "result_format": "json", "result_type": "full"}
        ch = sp.j("POST", "/api/v1/chart/", json={
            "slice_name": name, "viz_type": viz, "datasource_id": ds_id,
            "datasource_type": "table", "params": json.dumps(form),
            "query_context": json.dumps(qc), "dashboards": [dash_id],
            "uuid": stable_uuid("chart", name)})
        charts.append((ch["id"], stable_uuid("chart", name), name))
        print("chart", ch["id"], viz)

    # layout: bar (half) + heatmap (half) on row 1, pivot full width on row 2
    pos = {"DASHBOARD_VERSION_KEY": "v2",
           "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
           "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": ["ROW-1", "ROW-2"],
                       "parents": ["ROOT_ID"]},
           "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": DASH_TITLE}}}
    rows = {"ROW-1": [(charts[0], 6), (charts[1], 6)], "ROW-2": [(charts[2], 12)]}
    for row, items in rows.items():
        pos[row] = {"type": "ROW", "id": row, "children": [],
                    "parents": ["ROOT_ID", "GRID_ID"],
                    "meta": {"background": "BACKGROUND_TRANSPARENT"}}
        for (cid, cuuid, cname), width in items:
            key = f"CHART-{cid}"
            pos[row]["children"].append(key)
            pos[key] = {"type": "CHART", "id": key, "children": [],
                        "parents": ["ROOT_ID", "GRID_ID", row],
                        "meta": {"chartId": cid, "uuid": cuuid, "sliceName": cname,
                                 "width": width, "height": 60}}
    meta = {"color_scheme": "", "refresh_frequency": 0, "expanded_slices": {},
            "label_colors": {}, "timed_refresh_immune_slices": [],
            "cross_filters_enabled": False, "native_filter_configuration": [],
            "chart_configuration": {}, "default_filters": "{}"}
    sp.req("PUT", f"/api/v1/dashboard/{dash_id}",
           json={"position_json": json.dumps(pos), "json_metadata": json.dumps(meta)})
    print("dashboard", dash_id)
    return dash_id


# ---------------------------------------------------------------------------
# export / import
# ---------------------------------------------------------------------------
def export(sp: Superset, dash_id: int, out: Path) -> Path:
    r = sp.req("GET", f"/api/v1/dashboard/export/?q=!({dash_id})")
    zpath = out / "dashboard_export.zip"
    out.mkdir(parents=True, exist_ok=True)
    zpath.write_bytes(r.content)
    unpacked = out / "bundle"
    shutil.rmtree(unpacked, ignore_errors=True)
    with zipfile.ZipFile(zpath) as z:
        z.extractall(unpacked)
    print(f"export: {len(r.content)} bytes -> {zpath}")
    for p in sorted(unpacked.rglob("*")):
        if p.is_file():
            print("   ", p.relative_to(unpacked))
    return zpath


def zip_bundle(src: Path, assets: bool = False) -> bytes:
    """Zip a bundle directory (or re-zip a zip). The importer strips the FIRST path
    component of every member (remove_root), so members must sit under one top-level
    folder. With assets=True, metadata.yaml's `type: Dashboard` becomes `type: assets`
    (/api/v1/assets/import/ refuses any other type)."""
    files: dict[str, bytes] = {}
    if src.is_file():
        with zipfile.ZipFile(src) as z:
            files = {"/".join(n.split("/")[1:]): z.read(n) for n in z.namelist()
                     if not n.endswith("/")}
    else:
        roots = [p for p in src.iterdir() if p.is_dir()]
        root = roots[0] if len(roots) == 1 and (roots[0] / "metadata.yaml").exists() else src
        files = {str(p.relative_to(root)): p.read_bytes()
                 for p in sorted(root.rglob("*")) if p.is_file()}
    if assets:
        files["metadata.yaml"] = b"\n".join(
            b"type: assets" if line.startswith(b"type:") else line
            for line in files["metadata.yaml"].splitlines()) + b"\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(f"bundle/{name}", data)
    return buf.getvalue()


def import_bundle(sp: Superset, src: Path, analyst_pw: str, assets: bool = False) -> None:
    """assets=False: POST /api/v1/dashboard/import/ -- overwrite=true replaces the
    DASHBOARD only; a database/dataset/chart whose UUID already exists is kept as is.
    assets=True: POST /api/v1/assets/import/ -- overwrites every object in the bundle."""
    data = zip_bundle(src, assets)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        db_files = ["/".join(n.split("/")[1:]) for n in z.namelist()
                    if n.split("/")[1:2] == ["databases"] and n.endswith(".yaml")]
    passwords = {f: analyst_pw for f in db_files}  # keys: "databases/<name>.yaml"
    path = "/api/v1/assets/import/" if assets else "/api/v1/dashboard/import/"
    form = {"passwords": json.dumps(passwords)}
    if not assets:
        form["overwrite"] = "true"
    t = time.monotonic()
    r = sp.req("POST", path, files={"bundle": ("bundle.zip", data, "application/zip")}
               if assets else {"formData": ("dashboard.zip", data, "application/zip")},
               data=form)
    print(f"import {path}: {r.status_code} {r.json()} in {time.monotonic() - t:.2f}s;"
          f" passwords for {list(passwords)}")


def verify(sp: Superset) -> int:
    dash = sp.j("GET", f"/api/v1/dashboard/{DASH_SLUG}")["result"]
    charts = sp.j("GET", f"/api/v1/dashboard/{DASH_SLUG}/charts")["result"]
    print(f"dashboard back: id={dash['id']} title={dash['dashboard_title']!r}"
          f" charts={len(charts)}")
    for c in charts:
        d = sp.j("GET", f"/api/v1/chart/{c['id']}/data/")
        rows = d["result"][0]["rowcount"]
        print(f"   chart {c['id']} {c['form_data'].get('viz_type')}: {rows} rows,"
              f" first={d['result'][0]['data'][:1]}")
        assert rows > 0
    return dash["id"]


def main(argv: list[str]) -> None:
    mode = argv[1] if len(argv) > 1 else "all"
    sp = Superset(BASE, os.environ.get("SUPERSET_ADMIN_USER", "admin"),
                  secret("SUPERSET_ADMIN_PASSWORD", str(HERE / ".admin_password")))
    pw = secret("HALFSKY_ANALYST_PASSWORD", "/work/main/.halfsky/analyst_password")
    if mode in ("import", "assets"):
        import_bundle(sp, Path(argv[2]), pw, assets=mode == "assets")
        verify(sp)
        return
    t = time.monotonic()
    delete_all(sp)
    dash_id = build(sp, pw)
    print(f"build: {time.monotonic() - t:.2f}s")
    verify(sp)
    if mode == "build":
        return
    zpath = export(sp, dash_id, HERE / "export")
    delete_all(sp)
    assert not sp.find("dashboard", "slug", DASH_SLUG)
    assert not sp.find("database", "database_name", DB_NAME)
    print("deleted everything")
    import_bundle(sp, zpath, pw)
    dash_id = verify(sp)
    print(f"OK dashboard url: {BASE}/superset/dashboard/{DASH_SLUG}/ (id {dash_id})")


if __name__ == "__main__":
    main(sys.argv)
