"""build_marts under the real scheduler (``make up``'s services, LocalExecutor), against the one dbt build it runs.

    source .halfsky/env.sh && .venv/bin/python bench/marts_build.py [--prefectures 6] [--json OUT]

Builds under --work (default /tmp/halfsky-marts-build) a demo landing zone (the generator's prefectures x 3 months,
dirty cells, every invalid kind, resubmissions and duplicates), an Airflow home, and a warehouse and a metadata
database of their own; the dags folder holds nightly_load and build_marts, unchanged. Then, through the four
services of ``make up`` on 127.0.0.1:--port:

1. the first night: nightly_load's scheduled run (unpaused; catchup off), and the build_marts run its raw asset
   starts (not compared: it builds every table from nothing);
2. a night with nothing new: the scheduled night cleared and run again (a scheduled night always publishes raw,
   so build_marts runs again), timed from the clear to build_marts' end;
3. a night with one new prefecture-period: one unit's next month added to the landing zone, the night cleared.

For each build_marts run: its wall time (queued to done), its tasks, and the producer task, which runs one
``dbt build`` of the whole project (Cosmos' watcher mode); the ratio is the run's wall time over the producer's.
After the services stop, one plain ``dbt build`` of the same project on the same warehouse (nothing new) is timed
too. --env KEY=VALUE adds a setting to the services. Prints figures and, with --json, writes them; asserts
nothing. Stops what it started, also on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from national_month_end import airflow_cli, fresh_databases, log, metadata_rows, wait_for  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PYTHON = Path(sys.executable)
WAREHOUSE_DB, METADATA_DB = "halfsky_marts_bench", "halfsky_marts_bench_airflow"
PRODUCER = "dbt.dbt_producer_watcher"
DAGS = ("nightly_load", "build_marts")


def _landing(root: Path, prefectures: int) -> None:
    from halfsky_dev.sample.__main__ import main as generate

    generate([str(root), "--prefectures", str(prefectures), "--months", "3", "--dirty", "--invalid", "all",
              "--resubmissions", "2", "--duplicates", "1", "--force"])


def _add_next_month(root: Path) -> str:
    """One unit's drop for the month after the landing's last: a new prefecture-period, valid."""
    from halfsky_dev.sample.__main__ import main as generate

    with tempfile.TemporaryDirectory() as tmp:
        extra = Path(tmp) / "landing"
        generate([str(extra), "--prefectures", "1", "--months", "1", "--first-period", "2026-10", "--no-annual", "--force"])
        (unit,) = [d for d in extra.iterdir() if d.is_dir()]
        for period in unit.iterdir():
            shutil.copytree(period, root / unit.name / period.name, dirs_exist_ok=True)
        return f"{unit.name}/2026-10"


def _services_env(work: Path, port: int, extra: list[str]) -> dict[str, str]:
    from halfsky_dev.devenv import TELEMETRY_OFF, airflow_env

    warehouse, metadata = fresh_databases(WAREHOUSE_DB, METADATA_DB)
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    dags = work / "dags"
    shutil.rmtree(dags, ignore_errors=True)
    dags.mkdir(parents=True)
    for dag_id in DAGS:
        for ext in (".py", ".md"):
            shutil.copy2(REPO / "dags" / f"{dag_id}{ext}", dags / f"{dag_id}{ext}")
    env = {**os.environ, **airflow_env(home / "airflow", metadata), **TELEMETRY_OFF,
           "HALFSKY_HOME": str(home), "AIRFLOW_CONN_WAREHOUSE_DB": warehouse,
           "AIRFLOW_VAR_LANDING_URL": str(work / "landing"), "AIRFLOW_VAR_QUARANTINE_URL": str(home / "quarantine"),
           "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "HALFSKY_AIRFLOW_PORT": str(port)}
    env.setdefault("HALFSKY_PERSON_HMAC_KEY", "0" * 64)
    for item in extra:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def _runs(env: dict, dag_id: str) -> dict[str, tuple]:
    return {r[0]: r[1:] for r in metadata_rows(
        env, "select run_id, state, queued_at, start_date, end_date, run_type from dag_run where dag_id = %s", dag_id)}


def _finished(env: dict, dag_id: str, run_id: str):
    state, queued, started, ended, _ = _runs(env, dag_id)[run_id]
    return (state, queued, started, ended) if state in ("success", "failed") else None


def _new_run(env: dict, dag_id: str, before: set[str], timeout: float) -> str:
    return wait_for(f"a new {dag_id} run", lambda: next(iter(set(_runs(env, dag_id)) - before), None), timeout, every=0.5)


def _build_figures(env: dict, run_id: str) -> dict:
    state, queued, started, ended = _finished(env, "build_marts", run_id)
    tasks = metadata_rows(env, "select task_id, state, start_date, end_date from task_instance "
                               "where dag_id = 'build_marts' and run_id = %s", run_id)
    producer = next(((s, e) for task_id, _, s, e in tasks if task_id == PRODUCER), (None, None))
    producer_s = (producer[1] - producer[0]).total_seconds() if all(producer) else None
    wall = (ended - queued).total_seconds()
    states: dict[str, int] = {}
    for _, task_state, _, _ in tasks:
        states[str(task_state)] = states.get(str(task_state), 0) + 1
    return {"run_id": run_id, "state": state, "wall_s": round(wall, 1), "tasks": len(tasks), "task_states": states,
            "producer_s": round(producer_s, 1) if producer_s else None,
            "x_producer": round(wall / producer_s, 2) if producer_s else None}


def _night(env: dict, timeout: float, clear_scheduled: str | None) -> dict:
    """One night: nightly_load's scheduled run (made by the scheduler, or cleared to run again), then build_marts."""
    builds_before = set(_runs(env, "build_marts"))
    started = time.monotonic()
    if clear_scheduled is None:
        loads_before = set(_runs(env, "nightly_load"))
        airflow_cli(env, "dags", "unpause", "build_marts")
        airflow_cli(env, "dags", "unpause", "nightly_load")
        load_run = _new_run(env, "nightly_load", loads_before, 300)
    else:
        load_run = clear_scheduled
        logical = metadata_rows(env, "select logical_date from dag_run where dag_id = 'nightly_load' and run_id = %s",
                                load_run)[0][0].isoformat()
        airflow_cli(env, "tasks", "clear", "nightly_load", "--yes", "--start-date", logical, "--end-date", logical)
        wait_for("the night to start again", lambda: _runs(env, "nightly_load")[load_run][0] != "success", 60, every=0.2)
    wait_for("nightly_load to finish", lambda: _finished(env, "nightly_load", load_run), timeout, every=0.5)
    build_run = _new_run(env, "build_marts", builds_before, 300)
    wait_for("build_marts to finish", lambda: _finished(env, "build_marts", build_run), timeout, every=0.5)
    night_s = time.monotonic() - started
    return {"night_s": round(night_s, 1), "nightly_load": {"run_id": load_run, "state": _runs(env, "nightly_load")[load_run][0]},
            "build_marts": _build_figures(env, build_run)}


def _plain_dbt_build(env: dict) -> float:
    from airflow_overhead import ONE_DBT_BUILD

    started = time.perf_counter()
    result = subprocess.run([str(PYTHON), "-c", ONE_DBT_BUILD], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"dbt build failed:\n{(result.stdout + result.stderr)[-3000:]}")
    return time.perf_counter() - started


def run(args) -> dict:
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    _landing(work / "landing", args.prefectures)
    env = _services_env(work, args.port, args.env)
    log("airflow db migrate (not timed)")
    airflow_cli(env, "db", "migrate")
    services = [str(PYTHON), "-m", "halfsky_dev.services"]
    figures: dict = {"prefectures": args.prefectures, "executor": "local", "cores": os.cpu_count(),
                     "load_at_start": round(os.getloadavg()[0], 2), "extra_env": args.env,
                     "measured_at": datetime.now().astimezone().isoformat(timespec="seconds")}
    try:
        subprocess.run([*services, "up", "--port", str(args.port), "--executor", "local",
                        "--upload-port", str(args.port + 2)], env=env, check=True)
        for dag_id in DAGS:
            wait_for(f"{dag_id} in the metadata database",
                     lambda: metadata_rows(env, "select 1 from serialized_dag where dag_id = %s", dag_id), 300)
        log("the first night (nightly_load's scheduled run, then build_marts from nothing)")
        figures["first_night"] = first = _night(env, args.timeout, None)
        log(f"first night: {first['night_s']} s; build_marts {first['build_marts']}")
        scheduled = first["nightly_load"]["run_id"]
        log("a night with nothing new (the scheduled night cleared)")
        figures["nothing_new"] = nothing = _night(env, args.timeout, scheduled)
        log(f"nothing new: {nothing['night_s']} s; build_marts {nothing['build_marts']}")
        added = _add_next_month(work / "landing")
        log(f"a night with one new prefecture-period ({added})")
        figures["one_new"] = one = _night(env, args.timeout, scheduled)
        one["added"] = added
        log(f"one new: {one['night_s']} s; build_marts {one['build_marts']}")
    finally:
        subprocess.run([*services, "down"], env=env)
    figures["plain_dbt_build_s"] = round(_plain_dbt_build(env), 1)
    return figures


def report(f: dict) -> None:
    print(f"\nbuild_marts under the scheduler (LocalExecutor, {f['cores']} cores, {f['prefectures']} prefectures x 3 months; "
          f"load {f['load_at_start']} at the start)")
    for key, label in (("nothing_new", "nothing new"), ("one_new", "one new prefecture-period")):
        night = f[key]
        b = night["build_marts"]
        print(f"{label:28s} night (nightly_load + build_marts) {night['night_s']:6.1f} s; build_marts {b['wall_s']:6.1f} s "
              f"({b['tasks']} tasks, {b['state']}), its one dbt build {b['producer_s']} s: {b['x_producer']}x")
    print(f"{'one plain dbt build':28s} {f['plain_dbt_build_s']:.1f} s (nothing new, outside Airflow)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "halfsky-marts-build")
    p.add_argument("--prefectures", type=int, default=6)
    p.add_argument("--port", type=int, default=8190)
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--json", type=Path, help="write the figures here too")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting for the services, e.g. AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME=0.2")
    args = p.parse_args(argv)
    figures = run(args)
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
