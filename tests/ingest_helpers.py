"""Run the pipeline's ingest steps directly (no Airflow) over a generated landing tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from databases import Template, throwaway_database
from datetime import datetime
from pathlib import Path

from halfsky.ingest.runner import pending_work, process_prefecture
from halfsky_dev.sample.__main__ import main as generate

AS_OF = datetime.fromisoformat("2026-10-21T00:00:00+08:00")


def make_tree(base: Path, *args: str) -> tuple[Path, dict]:
    root = base / "landing"
    truth_path = base / "truth.json"
    assert generate([str(root), "--truth", str(truth_path), *args]) == 0
    return root, json.loads(truth_path.read_text(encoding="utf-8"))


def ingest_all(dsn: str, root: Path, quarantine: Path, as_of: datetime = AS_OF, run_id: str | None = None) -> dict:
    work, skipped = pending_work(dsn, str(root), as_of)
    outcomes = {}
    for batch in work:
        outcomes[batch["label"]] = process_prefecture(dsn, str(root), str(quarantine), batch["paths"], as_of=as_of,
                                                      run_id=run_id)
    return {"work": work, "skipped": skipped, "outcomes": outcomes}


def verdicts_by_path(dsn: str, paths: list[str]) -> dict[str, tuple[str, list[str]]]:
    """Drop path -> (status, sorted 'rule:field' of every finding): a verdict as a test compares it."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        rows = conn.execute("""select s.drop_path, s.status,
                                      coalesce(array_agg(f.rule || ':' || coalesce(f.field, '') order by f.rule, f.field)
                                               filter (where f.rule is not null), '{}')
                               from ingest.submissions as s left join ingest.drop_findings as f using (submission_id)
                               where s.drop_path = any(%s) group by 1, 2""", (list(paths),)).fetchall()
    return {path: (status, list(findings)) for path, status, findings in rows}


AIRFLOW = str(Path(sys.executable).with_name("airflow"))


RETRY_DELAY_SECONDS = 1


def short_retries(home: Path) -> None:
    """Tests only: every task of this Airflow home retries after RETRY_DELAY_SECONDS, not the production two
    minutes (halfsky.orchestration.dag_defaults), through a cluster policy in the home's config/ folder, which
    every Airflow process of the home has on sys.path."""
    (home / "config").mkdir(exist_ok=True)
    (home / "config" / "airflow_local_settings.py").write_text(f"""
from datetime import timedelta


def task_policy(task):
    task.retry_delay = timedelta(seconds={RETRY_DELAY_SECONDS})
""")


def airflow_home(home: Path, dsn: str, landing: Path, quarantine: Path, person_key: str) -> dict[str, str]:
    """An Airflow home with SQLite metadata (migrated) pointed at a warehouse and landing zone: the env for `airflow dags test`."""
    from halfsky_dev.devenv import TELEMETRY_OFF, airflow_env

    env = {**os.environ, **airflow_env(home, f"sqlite:///{home / 'airflow.db'}"), **TELEMETRY_OFF,
           "AIRFLOW_CONN_WAREHOUSE_DB": dsn, "AIRFLOW_VAR_LANDING_URL": str(landing),
           "AIRFLOW_VAR_QUARANTINE_URL": str(quarantine), "HALFSKY_PERSON_HMAC_KEY": person_key}
    _migrated_sqlite(home, env)
    return env


_MIGRATED_SQLITE: Path | None = None


def _migrated_sqlite(home: Path, env: dict[str, str]) -> None:
    """``airflow db migrate`` into home/airflow.db: the first time in this pytest process for real, then as a copy
    of that fresh database (a SQLite migrate is 8-40 s of a test module on a shared 2-core machine, and every
    migrated database is the same file: it names no path, home or warehouse)."""
    global _MIGRATED_SQLITE
    import atexit
    import shutil
    import tempfile

    target = home / "airflow.db"
    if _MIGRATED_SQLITE is not None and _MIGRATED_SQLITE.exists() and not target.exists():
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_MIGRATED_SQLITE, target)
        return
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    if _MIGRATED_SQLITE is None and target.exists():
        keep = Path(tempfile.mkdtemp(prefix="halfsky_airflow_db_"))
        atexit.register(shutil.rmtree, keep, True)
        shutil.copyfile(target, keep / "airflow.db")
        _MIGRATED_SQLITE = keep / "airflow.db"


@contextmanager
def keyed_warehouse(admin_dsn: str, prefix: str, key: str, *, template: Template) -> Iterator[str]:
    """A throw-away warehouse with its dimensions built (a copy of ``template``, conftest's dimensions_template),
    and HALFSKY_PERSON_HMAC_KEY set to ``key`` while it lives (the person models and the purge read it from the
    environment); both undone at the end. The dimensions hold no person key, so any key suits the copy."""
    previous = os.environ.get("HALFSKY_PERSON_HMAC_KEY")
    os.environ["HALFSKY_PERSON_HMAC_KEY"] = key
    try:
        with throwaway_database(admin_dsn, prefix.removeprefix("halfsky_"), template=template) as dsn:
            yield dsn
    finally:
        if previous is None:
            os.environ.pop("HALFSKY_PERSON_HMAC_KEY", None)
        else:
            os.environ["HALFSKY_PERSON_HMAC_KEY"] = previous


def asset_event_extras(airflow_db: Path, asset_name: str) -> list[dict]:
    """The extras of an asset's events in an Airflow home's SQLite metadata, oldest first."""
    import sqlite3

    with sqlite3.connect(airflow_db) as db:
        rows = db.execute("""select e.extra from asset_event e join asset a on a.id = e.asset_id
                             where a.name = ? order by e.id""", (asset_name,)).fetchall()
    return [json.loads(extra) if isinstance(extra, str) else extra for (extra,) in rows]
