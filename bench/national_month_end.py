"""The national month-end under the real scheduler: 330 prefectures' monthly drops through nightly_load.

    source .halfsky/env.sh && .venv/bin/python bench/national_month_end.py [--parallelism 16] [--label after]
        [--executor local|celery|both] [--workers 2]

One command. It builds, under --work (default /tmp/halfsky-national-month-end), everything it uses and
nothing of the checkout's own state:

- a reference dir: dbt_project/seeds with reporting_units.csv extended to --units real prefectures
  (halfsky.contract.reference.divisions; prefectures without counties left out), as HALFSKY_REFERENCE_DIR;
- a landing zone: one monthly drop per unit for --period (activity, funds and beneficiaries in one drop;
  xlsx, json and csv folders in turn), written by halfsky_dev.sample's Generator with a deterministic mix of
  sizes (a few hundred to several thousand rows per form; made once, reused while the parameters match);
- an Airflow home, a metadata database and a warehouse database of its own (both made anew each run);
- the four services of ``make up`` (halfsky_dev.services, LocalExecutor, [core] parallelism = --parallelism)
  on 127.0.0.1:--port with HALFSKY_HOME in the work dir, so their pid files are not the checkout's;
  with --executor celery, CeleryExecutor instead, a Redis broker on 127.0.0.1:6379 and --workers Celery
  workers sharing --parallelism slots (``make up EXECUTOR=celery``). --executor both runs LocalExecutor,
  then Celery, on the same drops in one invocation and prints the ratio of their wall times.

The dags folder holds nightly_load alone, unchanged. Unpausing it makes the scheduler create the night's
scheduled run (catchup off: the latest interval, whose end is the as-of every drop arrived before); the
run is timed from queued to done. Per ingest task: its time from queued to start, its run time, and the
work halfsky logs for the batch ("batch of N drops: ...; time by stage: ..."), the rest of its run time
being start-up (fork, DAG file, imports, GX context) and per-drop bookkeeping outside the stages.

--code DIR runs another checkout's plugins/ and dags/ (e.g. a `git archive` of HEAD) with this .venv:
its plugins/ goes first on PYTHONPATH. --env KEY=VALUE adds settings to the services (e.g.
AIRFLOW__SCHEDULER__MP_START_METHOD=forkserver). Prints figures; writes them to
bench/results/national_month_end.json under --label. Stops what it started, also on failure.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = Path(sys.executable)
AIRFLOW = str(PYTHON.with_name("airflow"))
RESULTS = REPO / "bench" / "results" / "national_month_end.json"
DAG_ID = "nightly_load"
WAREHOUSE_DB = "halfsky_nme"
METADATA_DB = "halfsky_nme_airflow"
# Rows per form, and how often: most prefectures are small, a few are big (a few thousand rows a drop on average).
SIZE_MIX = ((300, 35), (700, 35), (1500, 20), (3500, 8), (8000, 2))
BATCH_LINE = re.compile(r"batch of (\d+) drops: (\{[^}]*\}); time by stage: (.*)")
STAGE = re.compile(r"([a-z_]+) ([0-9.]+)s")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- inputs ----------------------------------------------------------------------------------------

def build_reference_dir(target: Path, units: int, code: Path) -> list[str]:
    """Seeds with ``units`` reporting units: the contract's own first, then real prefectures by code."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(code / "dbt_project" / "seeds", target)
    from halfsky.contract.reference.divisions import all_divisions
    from halfsky_dev.sample.content import unit_counties

    path = target / "reporting_units.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    fields = list(rows[0])
    have = {r["prefecture_code"] for r in rows}
    extra = [d for d in sorted(all_divisions().values(), key=lambda d: d.code)
             if d.level == "prefecture" and d.reporting_unit_code == d.code and d.code not in have
             and unit_counties(d.code)]
    need = units - len(rows)
    if need > len(extra):
        raise SystemExit(f"only {len(rows) + len(extra)} prefectures report for themselves; asked for {units}")
    for d in extra[:max(need, 0)]:
        rows.append({**{f: "" for f in fields}, "prefecture_code": d.code, "name_zh": d.name_zh,
                     "province_code": d.province_code, "active_from": "2022-01"})
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows[:units])
    return [r["prefecture_code"] for r in rows[:units]]


def rows_for(code: str, seed: int) -> int:
    sizes, weights = zip(*SIZE_MIX)
    return random.Random(f"{seed}:{code}").choices(sizes, weights)[0]


def generate_landing(root: Path, codes: list[str], period: str, seed: int) -> dict:
    """One monthly drop per unit, by size class (one Generator per class, so formats alternate within it)."""
    from halfsky_dev.sample.generator import Generator

    stamp = root.with_name(root.name + ".params.json")
    params = {"codes": codes, "period": period, "seed": seed, "mix": SIZE_MIX}
    if root.exists() and stamp.exists() and json.loads(stamp.read_text()) == json.loads(json.dumps(params)):
        log(f"landing zone {root} already holds these drops; reused")
    else:
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        classes: dict[int, list[str]] = {}
        for code in codes:
            classes.setdefault(rows_for(code, seed), []).append(code)
        started = time.perf_counter()
        as_of = datetime(int(period[:4]) + (period[5:] == "12"), int(period[5:]) % 12 + 1, 21,
                         tzinfo=timezone.utc)
        for rows, units in sorted(classes.items()):
            log(f"generating {len(units)} drops of {rows} rows per form")
            Generator(root, prefectures=units, periods=[period], rows=rows, dirty=False, seed=seed,
                      as_of=as_of).valid_drops(0, 0, False)
        log(f"generated {len(codes)} drops in {time.perf_counter() - started:.0f} s")
        stamp.write_text(json.dumps(params))
    sizes = [sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) if d.is_dir() else d.stat().st_size
             for d in root.glob("*/*/*")]
    return {"drops": len(sizes), "bytes": sum(sizes), "median_drop_bytes": int(statistics.median(sizes)),
            "max_drop_bytes": max(sizes)}


# --- the services ----------------------------------------------------------------------------------

def prepare_code(code: Path, work: Path) -> Path:
    """A dags folder with nightly_load alone (and its doc); the code's plugins/ and dags/ compiled."""
    subprocess.run([str(PYTHON), "-m", "compileall", "-q", "-j", "0", str(code / "plugins"), str(code / "dags")],
                   check=True, stdout=subprocess.DEVNULL)
    dags = work / "dags"
    if dags.exists():
        shutil.rmtree(dags)
    dags.mkdir(parents=True)
    for name in ("nightly_load.py", "nightly_load.md"):
        shutil.copy2(code / "dags" / name, dags / name)
    return dags


def fresh_databases(warehouse_db: str, metadata_db: str) -> tuple[str, str]:
    """A warehouse and an Airflow metadata database made anew: (warehouse DSN, SQLAlchemy URL of the metadata)."""
    from halfsky_dev.local_postgres import drop_database, ensure_database

    admin = os.environ["HALFSKY_ADMIN_DSN"]
    for name in (warehouse_db, metadata_db):
        drop_database(admin, name)
    return (ensure_database(admin, warehouse_db),
            ensure_database(admin, metadata_db).replace("postgresql://", "postgresql+psycopg2://", 1))


def service_env(args, work: Path, dags: Path, reference: Path, landing: Path) -> dict[str, str]:
    from halfsky_dev.devenv import TELEMETRY_OFF, airflow_env

    warehouse, metadata = fresh_databases(WAREHOUSE_DB, METADATA_DB)
    home = work / "home"
    for sub in ("airflow", "quarantine"):
        shutil.rmtree(home / sub, ignore_errors=True)
    env = {**os.environ, **airflow_env(home / "airflow", metadata), **TELEMETRY_OFF,
           "HALFSKY_HOME": str(home), "HALFSKY_REFERENCE_DIR": str(reference),
           "AIRFLOW_CONN_WAREHOUSE_DB": warehouse, "AIRFLOW_VAR_LANDING_URL": str(landing),
           "AIRFLOW_VAR_QUARANTINE_URL": str(home / "quarantine"),
           "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "AIRFLOW__CORE__PARALLELISM": str(args.parallelism),
           "HALFSKY_AIRFLOW_PORT": str(args.port)}
    env.setdefault("HALFSKY_PERSON_HMAC_KEY", "0" * 64)
    if args.code.resolve() != REPO:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(args.code / "plugins"), env.get("PYTHONPATH")]))
    for item in args.env:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def airflow_cli(env: dict, *argv: str) -> str:
    result = subprocess.run([AIRFLOW, *argv], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(argv)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result.stdout


def metadata_rows(env: dict, query: str, *params) -> list[tuple]:
    import psycopg

    dsn = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2://", "postgresql://", 1)
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()


def wait_for(what: str, check, timeout: float, every: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


# --- the figures -----------------------------------------------------------------------------------

def _log_events(path: Path) -> list[str]:
    """A task log's messages: Airflow 3 writes JSON lines ({"event": ...}); anything else is kept as text."""
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            events.append(str(json.loads(line).get("event", "")))
        except (ValueError, AttributeError):
            events.append(line)
    return events


def ingest_figures(env: dict, run_id: str) -> dict:
    tis = metadata_rows(env, """
        select map_index, rendered_map_index, state, queued_dttm, start_date, end_date
        from task_instance where dag_id = %s and run_id = %s and task_id = 'ingest_prefecture' order by map_index""",
                        DAG_ID, run_id)
    logs = Path(env["AIRFLOW_HOME"]) / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / "task_id=ingest_prefecture"
    tasks = []
    for map_index, label, state, queued, start, end in tis:
        task = {"map_index": map_index, "label": label, "state": state,
                "waited_s": round((start - queued).total_seconds(), 1) if start and queued else None,
                "run_s": round((end - start).total_seconds(), 1) if start and end else None}
        for path in sorted((logs / f"map_index={map_index}").glob("attempt=*.log")):
            for event in _log_events(path):
                if match := BATCH_LINE.search(event):
                    stages = {name: float(s) for name, s in STAGE.findall(match.group(3))}
                    task.update(drops=int(match.group(1)), work_s=round(sum(stages.values()), 1), stages=stages)
        if task.get("run_s") is not None and task.get("work_s") is not None:
            task["startup_s"] = round(task["run_s"] - task["work_s"], 1)
        tasks.append(task)

    def total(key):
        return round(sum(t.get(key) or 0 for t in tasks), 1)

    def median(key):
        values = [t[key] for t in tasks if t.get(key) is not None]
        return round(statistics.median(values), 1) if values else None

    return {"batches": len(tasks), "failed": sum(t["state"] != "success" for t in tasks),
            "run_s_total": total("run_s"), "work_s_total": total("work_s"), "startup_s_total": total("startup_s"),
            "run_s_median": median("run_s"), "work_s_median": median("work_s"), "startup_s_median": median("startup_s"),
            "run_s_max": max((t["run_s"] or 0 for t in tasks), default=None),
            "drops_per_batch_max": max((t.get("drops") or 0 for t in tasks), default=None),
            "tasks": tasks}


def import_times() -> dict:
    """Seconds to import each module in a fresh process (the .venv as it is: bytecode or not)."""
    out = {}
    for module in ("great_expectations", "airflow", "airflow.sdk", "halfsky.orchestration.pipeline"):
        started = time.perf_counter()
        subprocess.run([str(PYTHON), "-c", f"import {module}"], check=True, capture_output=True)
        out[module] = round(time.perf_counter() - started, 2)
    return out


# --- the run ---------------------------------------------------------------------------------------

def run(args) -> dict:
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    reference = work / "reference"
    os.environ["HALFSKY_REFERENCE_DIR"] = str(reference)  # before reference_data() is first read
    codes = build_reference_dir(reference, args.units, args.code)
    landing_info = generate_landing(work / "landing", codes, args.period, args.seed)
    log(f"{landing_info['drops']} drops, {landing_info['bytes'] / 1e6:.0f} MB in the landing zone")
    dags = prepare_code(args.code, work)
    env = service_env(args, work, dags, reference, work / "landing")
    log("airflow db migrate (not timed)")
    airflow_cli(env, "db", "migrate")
    services = [str(PYTHON), "-m", "halfsky_dev.services"]
    figures: dict = {"label": args.label, "executor": args.executor, "workers": args.workers if args.executor == "celery" else None,
                     "code": str(args.code), "units": args.units, "period": args.period,
                     "parallelism": args.parallelism, "cores": os.cpu_count(), "landing": landing_info,
                     "extra_env": args.env, "imports_s": import_times(),
                     "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    log(f"imports in a fresh process: {figures['imports_s']}")
    try:
        subprocess.run([*services, "up", "--port", str(args.port), "--no-manifest", "--executor", args.executor,
                        "--workers", str(args.workers), "--upload-port", str(args.port + 2)], env=env, check=True)
        wait_for("nightly_load in the metadata database",
                 lambda: metadata_rows(env, "select 1 from serialized_dag where dag_id = %s", DAG_ID), 300)
        before = {r[0] for r in metadata_rows(env, "select run_id from dag_run where dag_id = %s", DAG_ID)}
        log("unpausing nightly_load: the scheduler makes the night's run")
        airflow_cli(env, "dags", "unpause", DAG_ID)
        run_id = wait_for("the night's run", lambda: next(iter(
            {r[0] for r in metadata_rows(env, "select run_id from dag_run where dag_id = %s", DAG_ID)} - before), None), 300)
        log(f"run {run_id} created")

        def finished():
            rows = metadata_rows(env, "select state, queued_at, start_date, end_date from dag_run "
                                      "where dag_id = %s and run_id = %s", DAG_ID, run_id)
            return rows[0] if rows and rows[0][0] in ("success", "failed") else None

        last = time.monotonic()

        def progress():
            nonlocal last
            if time.monotonic() - last > 60:
                last = time.monotonic()
                counts = metadata_rows(env, "select coalesce(state, 'none'), count(*) from task_instance where dag_id = %s "
                                            "and run_id = %s and task_id = 'ingest_prefecture' group by 1", DAG_ID, run_id)
                log(f"ingest tasks: {dict(counts)}")
            return finished()

        state, queued, started, ended = wait_for("the run to finish", progress, args.timeout, every=5)
        figures.update(run_id=run_id, state=state,
                       wall_s=round((ended - queued).total_seconds(), 1),
                       queued_to_start_s=round((started - queued).total_seconds(), 1) if started else None)
        figures["ingest"] = ingest_figures(env, run_id)
        figures["ingest_tasks_by_host"] = dict(metadata_rows(
            env, "select hostname, count(*) from task_instance where dag_id = %s and run_id = %s "
                 "and task_id = 'ingest_prefecture' group by 1 order by 1", DAG_ID, run_id))
        figures["task_states"] = dict(metadata_rows(env, "select task_id || coalesce('/' || state, ''), count(*) "
                                                         "from task_instance where dag_id = %s and run_id = %s group by 1",
                                                    DAG_ID, run_id))
        import psycopg

        with psycopg.connect(env["AIRFLOW_CONN_WAREHOUSE_DB"]) as conn:
            figures["submissions"] = dict(conn.execute(
                "select status, count(*) from ingest.submissions group by 1").fetchall())
    finally:
        subprocess.run([*services, "down"], env=env)
    return figures


def report(f: dict) -> None:
    ingest = f.get("ingest", {})
    print(f"""
national month-end ({f['label']}): {f['units']} units, {f['landing']['drops']} drops, {f['landing']['bytes'] / 1e6:.0f} MB, period {f['period']}
  {'CeleryExecutor, ' + str(f.get('workers')) + ' workers' if f.get('executor') == 'celery' else 'LocalExecutor'}, [core] parallelism {f['parallelism']} on {f['cores']} cores; extra settings {f['extra_env'] or 'none'}
  ingest tasks by host: {f.get('ingest_tasks_by_host')}
  imports in a fresh process (s): {f['imports_s']}
  run {f.get('run_id')}: {f.get('state')}, queued to done {f.get('wall_s', 0) / 60:.1f} min ({f.get('wall_s')} s)
  ingest_prefecture: {ingest.get('batches')} mapped tasks ({ingest.get('failed')} not successful), at most {ingest.get('drops_per_batch_max')} drops each
    task run time:  total {ingest.get('run_s_total')} s, median {ingest.get('run_s_median')} s, max {ingest.get('run_s_max')} s
    halfsky's work: total {ingest.get('work_s_total')} s, median {ingest.get('work_s_median')} s (read, type, validate, rules, load, ...)
    the rest (fork, DAG file, imports, GX context, bookkeeping): total {ingest.get('startup_s_total')} s, median {ingest.get('startup_s_median')} s
  submissions: {f.get('submissions')}""")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--units", type=int, default=330, help="reporting units (default 330)")
    p.add_argument("--period", default="2026-10", help="the month-end's period, YYYY-MM (default 2026-10)")
    p.add_argument("--seed", type=int, default=2026)
    from halfsky.config.airflow_runtime import PARALLELISM
    p.add_argument("--parallelism", type=int, default=PARALLELISM,
                   help=f"[core] parallelism (default {PARALLELISM}, make up's; ingest tasks stay capped by HALFSKY_INGEST_SLOTS)")
    p.add_argument("--port", type=int, default=8095, help="the bench's api-server port (default 8095)")
    p.add_argument("--work", type=Path, default=Path("/tmp/halfsky-national-month-end"))
    p.add_argument("--code", type=Path, default=REPO, help="checkout whose plugins/ and dags/ run (default: this one)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="a setting for the services")
    p.add_argument("--label", default="current", help="key of this measurement in the JSON (default current)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the run (default 3600)")
    p.add_argument("--executor", choices=("local", "celery", "both"), default="local",
                   help="LocalExecutor (default), CeleryExecutor, or both in turn on the same drops")
    p.add_argument("--workers", type=int, default=2, help="Celery workers on this machine (default 2)")
    args = p.parse_args(argv)
    args.code = args.code.resolve()
    sys.path.insert(0, str(args.code / "plugins"))  # generate with the code that will judge
    executors = ("local", "celery") if args.executor == "both" else (args.executor,)
    label = args.label
    runs = {}
    for executor in executors:
        args.executor = executor
        args.label = f"{label}-{executor}" if len(executors) > 1 else label
        figures = run(args)
        report(figures)
        runs[executor] = figures
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        results[args.label] = figures
        RESULTS.write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str) + "\n")
        print(f"\nwritten to {RESULTS} under {args.label!r}")
    if len(runs) == 2 and all(r.get("wall_s") for r in runs.values()):
        local, celery = runs["local"]["wall_s"], runs["celery"]["wall_s"]
        print(f"\nCeleryExecutor ({args.workers} workers) / LocalExecutor, queued to done, one invocation: "
              f"{celery:.0f} s / {local:.0f} s = {celery / local:.2f}")
    return 0 if all(r.get("state") == "success" for r in runs.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
