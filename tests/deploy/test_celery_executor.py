"""CeleryExecutor: the same DAGs through the real scheduler, a Redis broker and two Celery workers on loopback.

`python -m halfsky_dev.services up --executor celery --workers 2` (what `make up EXECUTOR=celery` runs) starts the
api-server, scheduler, dag-processor, triggerer and two workers on a private HALFSKY_HOME, metadata database,
warehouse and Celery queue. Unpausing nightly_load and build_marts makes the scheduler create the night's run;
raw's asset event starts build_marts. Every unit gets an ingest task of its own (HALFSKY_INGEST_BATCH_BYTES=1),
so the per-prefecture tasks are spread over the workers, which each record their name as the task's host.

The same landing tree is also loaded single-process, while the workers build the marts (`airflow dags test nightly_load`, what `make demo` runs,
then one in-process dbt build, halfsky.orchestration.pipeline.build_marts) into a second warehouse for the same as-of, and the
two warehouses' raw and marts must hold the same rows. Submission ids are the one thing allowed to differ: they
are numbered in the order drops are accepted, which parallel workers do not fix, so rows are compared with each
submission id replaced by its drop's path.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from conftest import REPO_ROOT
from dag_site import BUILD_MARTS_CHILD, dags_test, run_child
from ingest_helpers import AIRFLOW, airflow_home, make_tree

sys.path.insert(0, str(REPO_ROOT / "bench"))
from national_month_end import metadata_rows as _metadata, wait_for as _wait  # noqa: E402  the bench's own

SAMPLE_ARGS = ("--prefectures", "4", "--months", "2", "--rows", "12", "--no-annual", "--invalid",
               "code_list,unknown_prefecture", "--resubmissions", "1", "--seed", "11")
PERSON_KEY = "test-celery-person-key-" + "c" * 24
DAGS = ("nightly_load", "build_marts")
COMPARED = ("raw", "marts")


def _is_submission_id(column: str) -> bool:
    return column.endswith("submission_id") or column == "duplicate_of"


def warehouse_rows(dsn: str) -> dict[str, Counter]:
    """{schema.table: Counter of rows} for every table and view of COMPARED, each row a tuple of its values as
    text, with submission ids replaced by the drop's path."""
    out: dict[str, Counter] = {}
    with psycopg.connect(dsn) as conn:
        paths = dict(conn.execute("select submission_id, drop_path from ingest.submissions").fetchall())
        relations = conn.execute(
            """select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm') and not c.relispartition""",
            (list(COMPARED),)).fetchall()
        for schema, table in relations:
            cursor = conn.execute(f'select * from "{schema}"."{table}"')
            names = [column.name for column in cursor.description]
            rows = Counter()
            for row in cursor:
                rows[tuple(f"{name}={paths.get(value, value) if _is_submission_id(name) else value}"
                           for name, value in zip(names, row))] += 1
            out[f"{schema}.{table}"] = rows
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _services(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "halfsky_dev.services", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=REPO_ROOT)


def _finished_run(env: dict, dag_id: str) -> tuple | None:
    rows = _metadata(env, "select run_id, state, logical_date from dag_run where dag_id = %s order by id", dag_id)
    return rows[0] if rows and rows[0][1] in ("success", "failed") else None


def _service_logs(home: Path) -> str:
    out = []
    for path in sorted((home / "services").glob("*.log")):
        out.append(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-25:]))
    return "\n".join(out)


def _single_process(night: dict, base: Path, dsn: str, root: Path, nightly: tuple, halfsky_home: Path) -> None:
    """`airflow dags test nightly_load` for the Celery night's logical date, then one in-process dbt build for
    its as-of: ``night["single_s"]``, or ``night["single_error"]`` saying what failed."""
    single = airflow_home(base / "airflow_single", dsn, root, base / "quarantine_single", PERSON_KEY)
    single.update({"HALFSKY_HOME": str(halfsky_home), "HALFSKY_INGEST_BATCH_BYTES": "1"})
    single.pop("HALFSKY_DBT_MANIFEST", None)
    started = time.perf_counter()
    done = dags_test(single, "nightly_load", nightly[2].isoformat(), log=base / "single.log")
    if done.returncode != 0:
        night["single_error"] = f"single-process nightly_load failed:\n{(done.stdout + done.stderr)[-4000:]}"
        return
    done = run_child(single, BUILD_MARTS_CHILD, night["as_of"], "--dimensions", log=base / "single.log")
    if done.returncode != 0:
        night["single_error"] = f"single-process dbt build failed:\n{(done.stdout + done.stderr)[-4000:]}"
        return
    night["single_s"] = round(time.perf_counter() - started)


@pytest.fixture(scope="module")
def celery_night(admin_dsn, tmp_path_factory):
    """The night through CeleryExecutor, then the same tree single-process; both warehouses are kept to compare."""
    from halfsky.orchestration.dbt_manifest import ensure_manifest
    from halfsky_dev.devenv import TELEMETRY_OFF, airflow_env
    from halfsky_dev.local_postgres import drop_database, ensure_database

    if not _redis_answers():
        pytest.skip("no Redis on 127.0.0.1:6379 (start it: redis-server --daemonize yes)")
    base = tmp_path_factory.mktemp("celery")
    root, _truth = make_tree(base, *SAMPLE_ARGS)
    suffix = uuid.uuid4().hex[:8]
    names = {"celery": f"halfsky_celery_{suffix}", "single": f"halfsky_single_{suffix}",
             "metadata": f"halfsky_celery_airflow_{suffix}"}
    dsns = {key: ensure_database(admin_dsn, name) for key, name in names.items()}
    manifest = ensure_manifest()

    def halfsky_home(name: str) -> Path:
        home = base / name
        (home / "dbt" / "manifest").mkdir(parents=True)
        shutil.copy2(manifest, home / "dbt" / "manifest" / "manifest.json")
        return home

    home = halfsky_home("celery_home")
    env = {**os.environ, **airflow_env(base / "airflow", dsns["metadata"].replace("postgresql://", "postgresql+psycopg2://", 1)),
           **TELEMETRY_OFF,
           "HALFSKY_HOME": str(home), "AIRFLOW_CONN_WAREHOUSE_DB": dsns["celery"],
           "AIRFLOW_VAR_LANDING_URL": str(root), "AIRFLOW_VAR_QUARANTINE_URL": str(base / "quarantine_celery"),
           "HALFSKY_PERSON_HMAC_KEY": PERSON_KEY, "HALFSKY_INGEST_BATCH_BYTES": "1",
           "HALFSKY_AIRFLOW_PORT": str(_free_port()), "HALFSKY_UPLOAD_PORT": str(_free_port()),
           # The DAG files do not change during the test: parse each once, not every 30 s beside the night's tasks.
           "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600"}
    for key in ("HALFSKY_DBT_MANIFEST", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "AIRFLOW__CELERY__BROKER_URL",
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE", "HALFSKY_ANALYST_PASSWORD"):
        env.pop(key, None)
    night: dict = {"env": env, "home": home, "dsns": dsns}
    single = None
    try:
        subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
        started = time.perf_counter()
        up = _services(env, "up", "--executor", "celery", "--workers", "2", "--no-manifest")
        assert up.returncode == 0, f"services up failed:\n{up.stdout}\n{up.stderr}\n{_service_logs(home)}"
        night["up_s"] = round(time.perf_counter() - started)
        night["up"] = up.stderr + up.stdout
        _wait("both DAGs in the metadata database", lambda: len(_metadata(
            env, "select dag_id from serialized_dag where dag_id = any(%s)", list(DAGS))) == len(DAGS), 300)
        for dag_id in DAGS:
            subprocess.run([AIRFLOW, "dags", "unpause", dag_id], env=env, check=True, capture_output=True)
        nightly = _wait("nightly_load's run to finish", lambda: _finished_run(env, "nightly_load"), 600)
        (event_extra,) = _metadata(env, "select extra from asset_event order by id limit 1")[0]
        night["as_of"] = (event_extra if isinstance(event_extra, dict) else json.loads(event_extra))["as_of"]
        # The same tree single-process, for the same night, while the workers build the marts (it needs only
        # the night's logical date and as-of; its warehouse, quarantine and Airflow home are its own).
        single = threading.Thread(target=_single_process, args=(night, base, dsns["single"], root, nightly,
                                                                halfsky_home("single_home")))
        single.start()
        marts = _wait("build_marts's run to finish", lambda: _finished_run(env, "build_marts"), 900)
        night["celery_s"] = round(time.perf_counter() - started)
        for dag_id in DAGS:  # no second night while the warehouses are compared
            subprocess.run([AIRFLOW, "dags", "pause", dag_id], env=env, capture_output=True)
        night.update(nightly=nightly, marts=marts)
        night["tasks"] = _metadata(env, """select dag_id, task_id, map_index, state, hostname, rendered_map_index
                                           from task_instance order by dag_id, task_id, map_index""")
        night["runs"] = _metadata(env, """select dag_id, round(extract(epoch from end_date - start_date)) from dag_run
                                          order by id""")
        night["service_logs"] = _service_logs(home)
    finally:
        _services(env, "down")
        if single is not None:
            single.join()
    assert night.get("single_error") is None, night["single_error"]
    print(f"celery night {night['celery_s']} s (services up {night['up_s']} s; runs {night['runs']}), "
          f"single-process {night['single_s']} s, beside it")
    yield night
    for name in names.values():
        drop_database(admin_dsn, name)


@pytest.mark.slow
def test_the_night_runs_through_the_scheduler_on_two_celery_workers(celery_night):
    night = celery_night
    assert "CeleryExecutor" in night["up"] and "2 workers" in night["up"]
    assert night["nightly"][1] == "success", night["service_logs"]
    assert night["marts"][1] == "success", night["service_logs"]
    ingest = [t for t in night["tasks"] if t[:2] == ("nightly_load", "ingest_prefecture")]
    assert len(ingest) >= 5, "each of the 4 units and the unknown folder gets a task of its own"
    assert {t[3] for t in ingest} == {"success"}, ingest
    host = socket.gethostname()
    ran = Counter(t[4] for t in ingest)
    assert set(ran) == {f"worker-1@{host}", f"worker-2@{host}"}, f"per-prefecture tasks by worker: {ran}"
    # build_marts' dbt build and its other tasks went to the workers, and to no other host. Its boxes, which only
    # read their node's result, ended in the triggerer (halfsky.orchestration.dbt_box_trigger), on no worker; so
    # did Cosmos' gate after the build, an EmptyOperator the scheduler marks done without running it anywhere.
    marts_tasks = [t for t in night["tasks"] if t[0] == "build_marts"]
    assert {t[3] for t in marts_tasks} == {"success"}, marts_tasks
    on_workers = {t[1]: t[4] for t in marts_tasks if t[4]}
    assert set(on_workers.values()) <= {f"worker-1@{host}", f"worker-2@{host}"}, on_workers
    assert "dbt.dbt_producer_watcher" in on_workers and "summarize_marts" in on_workers, on_workers
    boxes = [t for t in marts_tasks if t[1].startswith("dbt.") and not t[1].startswith("dbt.dbt_producer_watcher")]
    assert len(boxes) > 100 and not [t for t in boxes if t[4]], [t for t in boxes if t[4]][:3]


@pytest.mark.slow
def test_celery_gives_the_same_warehouse_as_a_single_process_run(celery_night):
    dsns = celery_night["dsns"]
    celery, single = warehouse_rows(dsns["celery"]), warehouse_rows(dsns["single"])
    assert sum(sum(rows.values()) for table, rows in celery.items() if table.startswith("marts.fct_")) > 100
    with psycopg.connect(dsns["celery"]) as conn:
        statuses = dict(conn.execute("select status, count(*) from ingest.submissions group by 1").fetchall())
    assert statuses.get("accepted") and statuses.get("rejected"), statuses
    assert set(celery) == set(single)
    differing = {}
    for table in sorted(celery):
        if celery[table] != single[table]:
            only_celery, only_single = celery[table] - single[table], single[table] - celery[table]
            differing[table] = {"rows": (sum(celery[table].values()), sum(single[table].values())),
                                "only_celery": list(only_celery)[:2], "only_single": list(only_single)[:2]}
    assert differing == {}, "\n".join(f"{t}: {d}" for t, d in differing.items())
