"""One small landing tree loaded by real `airflow dags test` runs of nightly_load and build_marts, shared by
test_idempotency.py, test_secrets.py and test_id_masking.py (one site per pytest process, however many of them
use it; conftest.SAME_WORKER gives them one worker),
and what both measure on it: table checksums, and a sampler of `ps` and pg_stat_activity.

The site is built with secrets the tests can look for: a person key, a warehouse password carried by the
warehouse DSN (the local test server trusts 127.0.0.1, so any password is accepted and it still travels every
path a real one would: AIRFLOW_CONN_WAREHOUSE_DB, dbt's profile, Cosmos' profile mapping) and the analyst's.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from hostile_drops import id_named_drops
from ingest_helpers import AIRFLOW, airflow_home, make_tree

LOGICAL_DATE = "2026-10-21"
SAMPLE_ARGS = ("--prefectures", "2", "--months", "2", "--rows", "10", "--invalid",
               "code_list,unknown_prefecture,id_number_check", "--resubmissions", "1", "--duplicates", "1",
               "--with-warnings", "--seed", "7")

# Columns a checksum leaves out, each because it records *which run* touched a row, not what the row says.
# Everything else (statuses, verdicts, reasons, row counts, decided_at: the run's as-of, not the clock) must match.
RUN_COLUMNS = {
    # The Airflow run that last registered or decided the drop: a rerun of the same interval is another run
    # (another run_id) by definition; halfsky's summaries count "this run's" drops by it.
    ("ingest", "submissions"): {"run_id"},
}
CHECKED_SCHEMAS = ("raw", "ingest", "marts")


def checksums(dsn: str, schemas: tuple[str, ...] = CHECKED_SCHEMAS) -> dict[str, tuple[int, str]]:
    """{schema.table: (rows, md5 of the rows in order)} for every table and view in ``schemas``: each row as the
    text of its columns (all but RUN_COLUMNS), the rows sorted by that text, so row order on disk never counts."""
    out: dict[str, tuple[int, str]] = {}
    with psycopg.connect(dsn) as conn:
        relations = conn.execute(
            """select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm') order by 1, 2""",
            (list(schemas),)).fetchall()
        for schema, table in relations:
            columns = [name for (name,) in conn.execute(
                """select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 and not attisdropped
                   order by attnum""", (f'"{schema}"."{table}"',)).fetchall()
                       if name not in RUN_COLUMNS.get((schema, table), ())]
            row = sql.SQL("row({})::text").format(sql.SQL(", ").join(map(sql.Identifier, columns)))
            query = sql.SQL("select count(*), md5(coalesce(string_agg(r, E'\\n' order by r), '')) "
                            "from (select {} as r from {}) t").format(row, sql.Identifier(schema, table))
            out[f"{schema}.{table}"] = tuple(conn.execute(query).fetchone())
    return out


def differences(before: dict, after: dict) -> dict[str, tuple]:
    """The tables whose checksum changed (or that appeared or went): {table: (before, after)}."""
    return {t: (before.get(t), after.get(t)) for t in sorted(set(before) | set(after)) if before.get(t) != after.get(t)}


def rows_of(dsn: str, table: str, exclude: tuple[str, ...] = ()) -> set[str]:
    """Every row of a table as text (for saying *what* differs when a checksum does)."""
    with psycopg.connect(dsn) as conn:
        schema, name = table.split(".")
        columns = [c for (c,) in conn.execute(
            "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 and not attisdropped "
            "order by attnum", (table,)).fetchall() if c not in exclude]
        query = sql.SQL("select row({})::text from {}").format(sql.SQL(", ").join(map(sql.Identifier, columns)),
                                                               sql.Identifier(schema, name))
        return {r for (r,) in conn.execute(query).fetchall()}


def with_password(dsn: str, password: str) -> str:
    parts = urlsplit(dsn)
    user = parts.username or "postgres"
    netloc = f"{user}:{password}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


# --- sampling what other users of the machine see -----------------------------------------------------------

class Sampler:
    """Every ``interval`` seconds, while running: every process's command line (what `ps -eo args` prints,
    read from /proc/*/cmdline) and every pg_stat_activity row's query and application_name. Records the
    samples that hold any of ``needles``, and how many samples were taken."""

    def __init__(self, admin_dsn: str, needles: dict[str, str], interval: float = 0.05):
        self.admin_dsn, self.needles, self.interval = admin_dsn, {k: v for k, v in needles.items() if v}, interval
        self.hits: list[tuple[str, str, str]] = []  # (where, needle's name, the text, cut short)
        self.samples = {"ps": 0, "pg_stat_activity": 0, "dbt_processes": 0, "active_queries": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _look(self, where: str, text: str) -> None:
        for name, needle in self.needles.items():
            if needle in text:
                self.hits.append((where, name, text[:300]))

    def _run(self) -> None:
        own = os.getpid()
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            while not self._stop.is_set():
                dbt_seen = False
                for entry in os.scandir("/proc"):
                    if not entry.name.isdigit() or int(entry.name) == own:
                        continue
                    try:
                        with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                            args = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
                    except OSError:
                        continue
                    dbt_seen = dbt_seen or "dbt" in args
                    self._look("ps", args)
                self.samples["ps"] += 1
                self.samples["dbt_processes"] += dbt_seen
                for query, app, state in conn.execute(
                        "select coalesce(query, ''), coalesce(application_name, ''), coalesce(state, '') "
                        "from pg_stat_activity where pid <> pg_backend_pid()").fetchall():
                    self._look("pg_stat_activity.query", query)
                    self._look("pg_stat_activity.application_name", app)
                    self.samples["active_queries"] += state == "active"
                self.samples["pg_stat_activity"] += 1
                self._stop.wait(self.interval)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# --- the shared site ------------------------------------------------------------------------------------------

def dags_test(env: dict, dag_id: str, *args: str, log: Path | None = None) -> subprocess.CompletedProcess:
    run = subprocess.run([AIRFLOW, "dags", "test", dag_id, *args], env=env, capture_output=True, text=True)
    if log is not None:
        with log.open("a") as fh:
            fh.write(run.stdout + run.stderr)
    return run


def tasks_test(env: dict, dag_id: str, task_id: str, run_id: str, *args: str,
               log: Path | None = None) -> subprocess.CompletedProcess:
    """`airflow tasks test` of one task instance of an existing run: what clearing that box in the grid
    makes the scheduler do (run it again, with the same run, the same upstream XComs, the same map index).
    Given a run id that does not exist it makes a temporary run instead, and it exits 0 when the task fails:
    check ti_state afterwards.

    The scheduler queues a cleared box as its next try, and `tasks test` runs the try the metadata database
    holds: it is counted up first, so a build_marts box reruns its dbt node (Cosmos' watcher boxes read the
    build's result on their first try, and run their node alone on any later one)."""
    map_index = int(args[args.index("--map-index") + 1]) if "--map-index" in args else -1
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as db:
        db.execute("update task_instance set try_number = try_number + 1 where dag_id = ? and task_id = ? "
                   "and run_id = ? and map_index = ?", (dag_id, task_id, run_id, map_index))
    run = subprocess.run([AIRFLOW, "tasks", "test", dag_id, task_id, run_id, *args], env=env, capture_output=True,
                         text=True)
    if log is not None:
        with log.open("a") as fh:
            fh.write(run.stdout + run.stderr)
    return run


def ti_state(airflow_db: Path, dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> str | None:
    """A task instance's state: `airflow tasks test` exits 0 even when the task failed."""
    with sqlite3.connect(airflow_db) as db:
        row = db.execute("select state from task_instance where dag_id = ? and task_id = ? and run_id = ? "
                         "and map_index = ?", (dag_id, task_id, run_id, map_index)).fetchone()
    return row[0] if row else None


def latest_run_id(airflow_db: Path, dag_id: str) -> str:
    with sqlite3.connect(airflow_db) as db:
        return db.execute("select run_id from dag_run where dag_id = ? order by id desc limit 1", (dag_id,)).fetchone()[0]


def xcom(airflow_db: Path, dag_id: str, run_id: str, task_id: str):
    with sqlite3.connect(airflow_db) as db:
        (value,) = db.execute("select value from xcom where dag_id = ? and run_id = ? and task_id = ? and map_index = -1",
                              (dag_id, run_id, task_id)).fetchone()
    return json.loads(value)


def run_child(env: dict, code: str, *args: str, log: Path | None = None) -> subprocess.CompletedProcess:
    """``python -c code args...`` with ``env``; its output appended to ``log``."""
    run = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    if log is not None:
        with log.open("a") as fh:
            fh.write(run.stdout + run.stderr)
    return run


BUILD_MARTS_CHILD = """
import logging, sys
from datetime import datetime
from halfsky.orchestration import pipeline
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
if "--dimensions" in sys.argv:
    pipeline.build_dimensions()
pipeline.build_marts(datetime.fromisoformat(sys.argv[1]))
"""
# `airflow dags test build_marts 2026-10-21` builds for the end of its data interval (run_context.as_of).
MARTS_AS_OF = "2026-10-21T00:00:00+00:00"
# build_marts' dbt boxes but its build (Cosmos' producer), marked successful unrun in the site's run: the build is
# what writes the warehouse; each box only reads its node's result from it (tests/airflow/test_marts.py runs
# them all), and 120 of them are a minute of `dags test`.
BOXES = r"dbt\.(?!dbt_producer_watcher$).*"


def _build(admin_dsn: str, base: Path, site: dict) -> None:
    """Fill ``site`` (so a failure half-way still tells the caller which database to drop)."""
    from halfsky.orchestration.dbt_manifest import ensure_manifest
    from halfsky_dev.local_postgres import ensure_database

    started = time.perf_counter()
    root, truth = make_tree(base, *SAMPLE_ARGS)
    # drops named with an id number, for test_id_masking's search of this night (units the sample leaves alone)
    id_named = id_named_drops(root)
    truth["drops"] += [{"path": path, "expected_status": status, "prefecture_code": path.split("/")[0]}
                       for path, status in id_named.items()]
    site["id_named_drops"] = id_named
    name = f"halfsky_site_{uuid.uuid4().hex[:8]}"
    site.update(db=name, admin_dsn=admin_dsn)
    plain = ensure_database(admin_dsn, name)
    dsn = plain if urlsplit(plain).password else with_password(plain, "pw-" + secrets.token_hex(12))
    with psycopg.connect(dsn) as conn:  # a trusting server ignores the password; one that asks has its real one
        conn.execute("select 1")
    key = "test-person-key-" + secrets.token_hex(16)
    analyst_password = "an-" + secrets.token_hex(12)
    halfsky_home = base / "halfsky_home"  # dbt_runner's target/ and logs/ (HALFSKY_HOME/dbt/<db>), not the checkout's
    (halfsky_home / "dbt" / "manifest").mkdir(parents=True)
    # build_marts is rendered from the manifest `make test` wrote for the checkout (halfsky.orchestration.dbt_manifest).
    shutil.copy2(ensure_manifest(), halfsky_home / "dbt" / "manifest" / "manifest.json")
    home = base / "airflow"
    env = airflow_home(home, dsn, root, base / "quarantine", key)
    env.update({"HALFSKY_HOME": str(halfsky_home), "HALFSKY_ANALYST_PASSWORD": analyst_password})
    env.pop("WAREHOUSE_DSN", None)
    site.update({"dsn": dsn, "root": root, "truth": truth, "base": base, "env": env, "home": home,
                 "airflow_db": home / "airflow.db", "quarantine": base / "quarantine", "halfsky_home": halfsky_home,
                 "key": key, "password": urlsplit(dsn).password, "analyst_password": analyst_password,
                 "logs": base / "dag_runs.log", "timings": {}, "samplers": {}, "as_of": MARTS_AS_OF})
    site["needles"] = {"person key": key, "person key (hex)": key.encode().hex(),
                       "warehouse password": site["password"], "analyst password": analyst_password}

    def step(name: str, run) -> subprocess.CompletedProcess:
        t0 = time.perf_counter()
        with Sampler(admin_dsn, site["needles"]) as sampler:
            done = run()
        site["samplers"][name] = sampler
        site["timings"][name] = round(time.perf_counter() - t0, 1)
        assert done.returncode == 0, f"{name} failed:\n{(done.stdout + done.stderr)[-4000:]}"
        site[f"after_{name}"] = checksums(dsn)
        return done

    # The night, then the marts as a site builds them (dbt through halfsky.warehouse.dbt_runner, which writes dbt's logs
    # and target/ under HALFSKY_HOME), then build_marts as the scheduler starts it on the raw asset (here by
    # hand): Cosmos' one dbt build of the whole project again, for the same as-of.
    step("nightly_load", lambda: dags_test(env, "nightly_load", LOGICAL_DATE, log=site["logs"]))
    site["nightly_load_run_id"] = latest_run_id(site["airflow_db"], "nightly_load")
    # the metadata as the first night left it (a rerun of the same interval replaces that run's XComs); through
    # SQLite's backup, since Airflow keeps it in WAL mode and the last writes may not be in the file yet
    site["airflow_db_after_nightly_load"] = base / "airflow_after_nightly_load.db"
    with closing(sqlite3.connect(site["airflow_db"])) as source, \
            closing(sqlite3.connect(site["airflow_db_after_nightly_load"])) as copy:
        source.backup(copy)
    step("pipeline.build_marts",
         lambda: run_child(env, BUILD_MARTS_CHILD, MARTS_AS_OF, "--dimensions", log=site["logs"]))
    step("build_marts", lambda: dags_test(env, "build_marts", LOGICAL_DATE, "--mark-success-pattern", BOXES,
                                          log=site["logs"]))
    site["build_marts_run_id"] = latest_run_id(site["airflow_db"], "build_marts")
    assert xcom(site["airflow_db"], "build_marts", site["build_marts_run_id"], "resolve_as_of") == MARTS_AS_OF
    site["timings"]["site"] = round(time.perf_counter() - started, 1)
    (base / "timings.json").write_text(json.dumps(site["timings"], indent=1))


_SITE: dict | None = None
_USERS = 0


@contextmanager
def shared_site(admin_dsn: str, tmp_path_factory):
    """The site, built by the first module of this pytest process that asks; its database is dropped after the last."""
    global _SITE, _USERS
    from halfsky_dev.local_postgres import drop_database

    if _SITE is None:
        site: dict = {}
        try:
            _build(admin_dsn, tmp_path_factory.mktemp("dag_site"), site)
        except BaseException:
            if site.get("db"):
                drop_database(admin_dsn, site["db"])
            raise
        _SITE = site
    _USERS += 1
    try:
        yield _SITE
    finally:
        _USERS -= 1
        if _USERS == 0:
            drop_database(admin_dsn, _SITE["db"])
            _SITE = None
