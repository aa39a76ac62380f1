"""What running the night as Airflow tasks costs, against the same work done without them.

Builds the demo's landing zone in a scratch warehouse and Airflow home, then measures in one run:

- nightly_load as `airflow dags test` (ingest, verdicts, digest), against pipeline.ingest alone;
- build_marts as `airflow dags test` (Cosmos' watcher mode: one `dbt build` in its producer task, then a
  box per seed, model and test reading its result), against one plain `dbt build` of the same project
  for the same as-of on the same warehouse (both on an already-built warehouse, so both are the nightly
  incremental case with nothing new).

Prints figures (and with --json writes them); asserts nothing:  python bench/airflow_overhead.py [--prefectures 6]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

from halfsky_dev.devenv import TELEMETRY_OFF, airflow_env
from halfsky_dev.local_postgres import drop_database, ensure_database
from halfsky_dev.sample.__main__ import main as generate

AS_OF = datetime.fromisoformat("2026-10-21T00:00:00+00:00")
# What build_marts' producer runs: `dbt build` of the whole project, for the as-of `dags test 2026-10-21` builds
# for, with the person key and as the transformer role (halfsky.warehouse.dbt_runner does both).
ONE_DBT_BUILD = f"""
from datetime import datetime
from halfsky.config.settings import person_hmac_key
from halfsky.orchestration.pipeline import prepare_warehouse
from halfsky.warehouse.dbt_runner import night_env, person_key_options, run_dbt
prepare_warehouse()
run_dbt(["build"], extra_env={{**night_env(datetime.fromisoformat("{AS_OF.isoformat()}"), full_checks=False),
                              **person_key_options(person_hmac_key())}})
"""


def _timed(argv: list[str], env: dict) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed:\n{(result.stdout + result.stderr)[-3000:]}")
    return time.perf_counter() - started


def _task_seconds(db: Path, dag_id: str) -> tuple[int, float]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select count(*), sum((julianday(end_date) - julianday(start_date)) * 86400) "
                            "from task_instance where dag_id = ?", (dag_id,)).fetchone()
    return rows[0], rows[1] or 0.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prefectures", type=int, default=6)
    p.add_argument("--json", type=Path, help="write the figures here too")
    args = p.parse_args()
    admin = os.environ["HALFSKY_ADMIN_DSN"]
    name = f"halfsky_bench_{uuid.uuid4().hex[:6]}"
    dsn = ensure_database(admin, name)
    airflow = str(Path(sys.executable).with_name("airflow"))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root, home = Path(tmp) / "landing", Path(tmp) / "airflow"
            generate([str(root), "--prefectures", str(args.prefectures), "--months", "3", "--dirty", "--invalid", "all",
                      "--resubmissions", "2", "--duplicates", "1", "--force"])
            env = {**os.environ, **airflow_env(home, f"sqlite:///{home / 'airflow.db'}"), **TELEMETRY_OFF,
                   "AIRFLOW_CONN_WAREHOUSE_DB": dsn, "AIRFLOW_VAR_LANDING_URL": str(root),
                   "AIRFLOW_VAR_QUARANTINE_URL": str(Path(tmp) / "quarantine")}
            subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
            nightly = _timed([airflow, "dags", "test", "nightly_load", "2026-10-21"], env)
            first_build = _timed([sys.executable, "-c", ONE_DBT_BUILD], env)
            cosmos = _timed([airflow, "dags", "test", "build_marts", "2026-10-21"], env)
            plain = _timed([sys.executable, "-c", ONE_DBT_BUILD], env)
            tasks, busy = _task_seconds(home / "airflow.db", "build_marts")
            ingest_tasks, ingest_busy = _task_seconds(home / "airflow.db", "nightly_load")
    finally:
        drop_database(admin, name)
    print(f"landing: {args.prefectures} prefectures x 3 months, every invalid kind (airflow dags test: one task at a time)")
    print(f"nightly_load   {nightly:6.1f} s wall  {ingest_tasks:3d} tasks  {ingest_busy:6.1f} s inside tasks")
    print(f"build_marts    {cosmos:6.1f} s wall  {tasks:3d} tasks  {busy:6.1f} s inside tasks  (Cosmos watcher, nothing new)")
    print(f"one dbt build  {plain:6.1f} s wall  (the same project, same warehouse, nothing new; first build {first_build:.1f} s)")
    print(f"build_marts / one dbt build: {cosmos / plain:.1f}x;  per box: {(cosmos - plain) / max(tasks - 4, 1):.2f} s")
    if args.json:
        args.json.write_text(json.dumps({
            "prefectures": args.prefectures, "nightly_load_s": round(nightly, 1), "nightly_load_tasks": ingest_tasks,
            "build_marts_s": round(cosmos, 1), "build_marts_tasks": tasks, "build_marts_busy_s": round(busy, 1),
            "plain_dbt_build_s": round(plain, 1), "first_dbt_build_s": round(first_build, 1),
            "x_plain": round(cosmos / plain, 2)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
