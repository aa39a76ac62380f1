"""halfsky's load speed and memory beside a floor and two peers, measured side by side in one run.

For each size, over the same landing tree (written by halfsky's sample generator, bench/trees.py):

- floor:   COPY of the typed rows halfsky would load (written once as CSV, untimed) into UNLOGGED tables
           of the raw tables' shape: what Postgres alone costs;
- fast:    Polars read + the GX suites' rules as vectorised expressions + COPY (bench/fast_path.py);
- naive:   pandas read (read_csv, read_excel with calamine, json) + GX over the whole DataFrame with the
           same suites (expectations/*.json) + DataFrame.to_sql (SQLAlchemy, postgresql+psycopg);
- halfsky: the real path, pending_work + process_prefecture, seconds per stage from halfsky.ingest.stage_clock;
- dbt:     the nights on top of 1M and 10M rows of history (bench/dbt_nights.measure_nights), when that file exists;
- marts:   build_marts on the demo's warehouse against the one dbt build it runs, under `airflow dags test`
           (bench/airflow_overhead.py) and under the scheduler with make up's services (bench/marts_build.py).

Each peer runs in a process of its own, into a throwaway database of its own, one after another; its
peak RSS is that process's ru_maxrss (the Postgres server's memory is not in it). Ratios are to the
floor of the same run, since the machines here are noisy. Prints a table and writes
bench/results/<date>-<host>.json and bench/results/latest.json; asserts nothing.

    python bench/run.py                      # every size (tens of minutes)
    python bench/run.py --sizes small        # a smoke run of about a minute
    python bench/run.py --profile            # halfsky on the 1M csv drop under pyinstrument
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import trees  # noqa: E402

PEERS = ("floor", "fast", "naive", "halfsky")
DBT_HISTORY = [1_000_000, 10_000_000]


def size_specs(scale: float) -> dict[str, dict]:
    """name -> description and drops. ``scale`` multiplies every drop's rows (tests use a tiny one)."""

    def n(rows: int) -> int:
        return max(int(rows * scale), 10)

    def drop(prefecture: str, fmt: str, rows: int) -> trees.DropSpec:
        b, f = trees.split(n(rows))
        return trees.DropSpec(prefecture, fmt, b, f)

    units = trees.units()
    return {
        "small": {"about": "3 drops (csv, xlsx, json) of 5k, 1k and 1k rows: a smoke run",
                  "drops": [drop(units[0], "csv", 5_000), drop(units[1], "xlsx", 1_000), drop(units[2], "json", 1_000)]},
        "csv_1m": {"about": "1M rows in one csv drop (80% beneficiaries)",
                   "drops": [drop(units[0], "csv", 1_000_000)]},
        "many_1m": {"about": "1M rows over 50 csv drops of 20k rows (50 prefectures)",
                    "drops": [drop(u, "csv", 20_000) for u in units[:50]]},
        "xlsx_200k": {"about": "200k rows in one xlsx drop",
                      "drops": [drop(units[0], "xlsx", 200_000)]},
        "national": {"about": "a national month-end: 330 prefectures x three forms, ~1k rows each, xlsx/csv/json in turn",
                     "drops": [drop(u, ("xlsx", "csv", "json")[i % 3], 600) for i, u in enumerate(units[:330])]},
    }


ALL_SIZES = ("csv_1m", "many_1m", "xlsx_200k", "national", "dbt", "marts")


def machine(code: str | None = None) -> dict:
    def cpu_model() -> str:
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return platform.processor() or "unknown"

    def ram_gb() -> float | None:
        try:
            return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
        except (ValueError, OSError):
            return None

    def postgres_version() -> str:
        import psycopg

        with psycopg.connect(os.environ["HALFSKY_ADMIN_DSN"]) as conn:
            return conn.execute("select version()").fetchone()[0]

    def git_commit() -> str:
        if code:  # halfsky as committed at that revision, whatever the working tree holds
            return subprocess.run(["git", "rev-parse", code], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        try:
            head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                                   text=True).stdout.strip()
            return head + ("+dirty" if dirty else "")
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    from importlib.metadata import version  # no import of the libraries: the parent stays small (see run_peer)

    return {
        "host": socket.gethostname(), "cores": os.cpu_count(), "ram_gb": ram_gb(), "cpu": cpu_model(),
        "load_average_at_start": list(os.getloadavg()), "python": platform.python_version(),
        "postgres": postgres_version(), "commit": git_commit(),
        "code": f"git archive of {code}" if code else "working tree (+dirty: uncommitted changes to tracked files)",
        "libraries": {name: version(name) for name in ("pandas", "polars", "great-expectations", "psycopg",
                                                       "sqlalchemy", "dbt-core")},
    }


def run_peer(peer: str, job: dict, workdir: Path) -> dict:
    """Run one peer in a child process; its result plus its own peak RSS (wait4's ru_maxrss)."""
    job_path, result_path, log_path = (workdir / f"{peer}.{ext}" for ext in ("job.json", "result.json", "log"))
    job_path.write_text(json.dumps(job, default=str))
    result_path.unlink(missing_ok=True)
    started = time.perf_counter()
    with log_path.open("w") as log:
        child = subprocess.Popen([sys.executable, str(HERE / "peers.py"), peer, str(job_path), str(result_path)],
                                 stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if child.returncode != 0 or not result_path.exists():
        tail = log_path.read_text(errors="replace")[-3000:]
        return {"error": f"exit {child.returncode}", "log_tail": tail, "process_seconds": elapsed}
    result = json.loads(result_path.read_text())
    # ru_maxrss of a child counts the parent's RSS at fork on Linux; the child's own VmHWM does not.
    result.setdefault("peak_rss_mb", round(usage.ru_maxrss / 1024, 1))
    result["process_seconds"] = round(elapsed, 2)
    return result


def measure_size(name: str, spec: dict, peers: list[str], admin_dsn: str, workdir: Path, profile: Path | None,
                 echo) -> dict:
    t0 = time.perf_counter()
    root, manifest = trees.build_tree(trees.cache_dir() / "trees", name, spec["drops"])
    echo(f"[{name}] tree: {len(manifest['drops'])} drops, {manifest['rows']:,} rows, {manifest['bytes'] / 1e6:.1f} MB "
         f"({time.perf_counter() - t0:.0f}s to build or find in the cache)")
    job = {"root": str(root), "admin_dsn": admin_dsn, "as_of": trees.AS_OF, "floor_dir": str(workdir / name / "floor"),
           "drops": [{"rel": d["rel"], "prefecture": d["prefecture"], "period": d["period"], "fmt": d["fmt"]}
                     for d in manifest["drops"]]}
    size_dir = workdir / name
    size_dir.mkdir(parents=True, exist_ok=True)
    out = {"about": spec["about"], "drops": len(manifest["drops"]), "rows": manifest["rows"],
           "rows_by_form": manifest["rows_by_form"], "bytes": manifest["bytes"],
           "formats": sorted({d["fmt"] for d in manifest["drops"]}), "peers": {}}
    if "floor" in peers:
        prepared = run_peer("prepare", job, size_dir)
        if "error" in prepared:
            echo(f"[{name}] preparing the floor's CSV failed: {prepared['error']}\n{prepared['log_tail']}")
    for peer in peers:
        if profile is not None and peer == "halfsky":
            job = {**job, "profile": str(profile)}
        result = run_peer(peer, job, size_dir)
        if "error" not in result:
            result["rows_per_s"] = round(manifest["rows"] / result["seconds"]) if result["seconds"] else None
        out["peers"][peer] = result
        echo(f"[{name}] {_peer_line(peer, result)}")
    floor_s = out["peers"].get("floor", {}).get("seconds")
    for result in out["peers"].values():
        if floor_s and "seconds" in result:
            result["x_floor"] = round(result["seconds"] / floor_s, 1)
    return out


def _peer_line(peer: str, r: dict) -> str:
    if "error" in r:
        return f"{peer}: FAILED ({r['error']}); log tail:\n{r['log_tail']}"
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in r.get("stages", {}).items())
    extra = f"; outcome {r['outcome']}" if r.get("outcome") else ""
    extra += f"; findings {r['findings']}" if r.get("findings") else ""
    return (f"{peer}: {r['seconds']:.1f}s, {r.get('rows_per_s') or 0:,} rows/s, {r['rows_loaded']:,} rows loaded, "
            f"peak RSS {r['peak_rss_mb']:,.0f} MB ({stages}){extra}")


def measure_dbt(admin_dsn: str, workdir: Path, echo) -> dict:
    if not (HERE / "dbt_nights.py").exists():
        echo("[dbt] skipped: bench/dbt_nights.py (measure_nights) is not there yet")
        return {"skipped": "bench/dbt_nights.py is not there yet"}
    job = {"admin_dsn": admin_dsn, "history_rows": DBT_HISTORY, "new_rows": 200_000}
    (workdir / "dbt").mkdir(parents=True, exist_ok=True)
    result = run_peer("dbt", job, workdir / "dbt")
    if "error" in result:
        echo(f"[dbt] FAILED ({result['error']}):\n{result['log_tail']}")
    else:
        for night in result["nights"]:
            echo(f"[dbt] {night.get('night')} on {night.get('history_rows', 0):,} rows of history: {night.get('seconds', 0):.1f}s")
    return result


def measure_marts(workdir: Path, echo) -> dict:
    """build_marts on the demo's warehouse against the one dbt build it runs: under `airflow dags test`
    (bench/airflow_overhead.py) and under the scheduler (bench/marts_build.py), each a process of its own."""
    out: dict = {}
    for key, script in (("dags_test", "airflow_overhead.py"), ("scheduler", "marts_build.py")):
        result_path, log_path = workdir / f"marts-{key}.json", workdir / f"marts-{key}.log"
        started = time.perf_counter()
        with log_path.open("w") as log:
            code = subprocess.run([sys.executable, str(HERE / script), "--json", str(result_path)], stdout=log,
                                  stderr=subprocess.STDOUT, cwd=REPO).returncode
        if code != 0 or not result_path.exists():
            out[key] = {"error": f"exit {code}", "log_tail": log_path.read_text(errors="replace")[-3000:]}
            echo(f"[marts] {script} FAILED ({code}):\n{out[key]['log_tail']}")
            continue
        out[key] = {**json.loads(result_path.read_text()), "process_seconds": round(time.perf_counter() - started, 1)}
        echo(f"[marts] {key}: {_marts_lines({key: out[key]})}")
    return out


def _marts_lines(marts: dict) -> str:
    lines = []
    if "build_marts_s" in marts.get("dags_test", {}):
        d = marts["dags_test"]
        lines.append(f"  airflow dags test   build_marts {d['build_marts_s']:6.1f}s ({d['build_marts_tasks']} tasks), "
                     f"one dbt build {d['plain_dbt_build_s']:.1f}s: {d['x_plain']:.1f}x (nothing new)")
    if "nothing_new" in marts.get("scheduler", {}):
        sched = marts["scheduler"]
        for key, label in (("nothing_new", "nothing new"), ("one_new", "one new prefecture-period")):
            b = sched[key]["build_marts"]
            lines.append(f"  scheduler           build_marts {b['wall_s']:6.1f}s ({b['tasks']} tasks, {b['state']}), its dbt build "
                         f"{b['producer_s']}s: {b['x_producer']}x ({label}); the night (nightly_load + build_marts) "
                         f"{sched[key]['night_s']:.1f}s")
        lines.append(f"  scheduler           one plain dbt build after the nights: {sched['plain_dbt_build_s']:.1f}s")
    for key in ("dags_test", "scheduler"):
        if "error" in marts.get(key, {}):
            lines.append(f"  {key}: FAILED ({marts[key]['error']})")
    return "\n".join(lines)


def table(sizes: dict) -> str:
    head = f"{'size':<10} {'peer':<8} {'rows':>10} {'seconds':>9} {'rows/s':>10} {'x floor':>8} {'peak MB':>8}  stages (s)"
    lines = [head, "-" * len(head)]
    for name, s in sizes.items():
        if "peers" not in s:
            continue
        for peer, r in s["peers"].items():
            if "error" in r:
                lines.append(f"{name:<10} {peer:<8} {s['rows']:>10,} {'FAILED':>9}  {r['error']}")
                continue
            stages = " ".join(f"{k} {v:.1f}" for k, v in r.get("stages", {}).items())
            x = f"{r['x_floor']:.1f}" if r.get("x_floor") is not None else "-"
            lines.append(f"{name:<10} {peer:<8} {s['rows']:>10,} {r['seconds']:>9.1f} {r.get('rows_per_s') or 0:>10,} "
                         f"{x:>8} {r['peak_rss_mb']:>8,.0f}  {stages}")
    dbt = sizes.get("dbt")
    if dbt and dbt.get("nights"):
        lines.append("")
        lines.append("dbt nights (bench/dbt_nights.py):")
        for night in dbt["nights"]:
            lines.append(f"  {night.get('night')!s:<24} history {night.get('history_rows', 0):>12,} rows  {night.get('seconds', 0):>8.1f}s")
    elif dbt:
        lines.append(f"dbt: {dbt.get('skipped') or dbt.get('error')}")
    if sizes.get("marts"):
        lines.append("")
        lines.append("build_marts against one dbt build (bench/airflow_overhead.py, bench/marts_build.py):")
        lines.append(_marts_lines(sizes["marts"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default=",".join(ALL_SIZES),
                   help=f"comma-separated: small, {', '.join(ALL_SIZES)} (default: all but small)")
    p.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated subset of {', '.join(PEERS)}")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every drop's rows (e.g. 0.1 for a quicker run)")
    p.add_argument("--profile", action="store_true",
                   help="only halfsky on the 1M csv drop, under pyinstrument; the profile goes to bench/results/")
    p.add_argument("--results", type=Path, default=HERE / "results", help="where the JSON goes (default bench/results)")
    p.add_argument("--code", metavar="REV",
                   help="measure halfsky as committed at REV (git archive of plugins/, expectations/, dbt_project/ put first "
                        "on PYTHONPATH), not the working tree: e.g. --code HEAD for the last commit's figures")
    p.add_argument("--quiet", action="store_true", help="print only the table")
    args = p.parse_args(argv)
    echo = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))

    admin_dsn = os.environ.get("HALFSKY_ADMIN_DSN")
    if not admin_dsn:
        raise SystemExit("HALFSKY_ADMIN_DSN is not set: run `make bench` (or source .halfsky/env.sh)")
    cache = trees.cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    # Every process of the bench (tree writers, peers) reads the national reference data.
    os.environ["HALFSKY_REFERENCE_DIR"] = str(trees.bench_reference_dir(cache))
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

    sizes_asked = [s for s in args.sizes.split(",") if s]
    peers = [s for s in args.peers.split(",") if s]
    if args.profile:
        sizes_asked, peers = ["csv_1m"], ["halfsky"]
    specs = size_specs(args.scale)
    unknown = set(sizes_asked) - set(specs) - {"dbt", "marts"} or set(peers) - set(PEERS)
    if unknown:
        p.error(f"unknown size or peer: {', '.join(sorted(unknown))}")

    code_dir = None
    if args.code:
        code_dir = Path(tempfile.mkdtemp(prefix="halfsky-bench-code-"))
        archive = subprocess.run(["git", "archive", args.code, "plugins", "expectations", "dbt_project"], cwd=REPO,
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(code_dir)], input=archive, check=True)
        # Before the editable install's path (a .pth entry), so every peer imports halfsky from there.
        os.environ["PYTHONPATH"] = os.pathsep.join([str(code_dir / "plugins"), *filter(None, [os.environ.get("PYTHONPATH")])])
        os.environ["HALFSKY_EXPECTATIONS_DIR"] = str(code_dir / "expectations")

    now = datetime.now(timezone.utc)
    host = socket.gethostname()
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = f"{now:%Y%m%dT%H%M%SZ}-{host}"
    profile = args.results / f"profile-{stamp}" if args.profile else None
    report = {"started_at": now.isoformat(), "argv": sys.argv[1:] if argv is None else argv, "machine": machine(args.code),
              "scale": args.scale, "period": trees.PERIOD, "sizes": {}}
    echo(f"bench at {report['machine']['commit']} on {host}: {report['machine']['cores']} cores, "
         f"{report['machine']['ram_gb']} GB, {report['machine']['cpu']}; load {report['machine']['load_average_at_start']}")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="halfsky-bench-") as tmp:
        for name in sizes_asked:
            if name == "dbt":
                report["sizes"]["dbt"] = measure_dbt(admin_dsn, Path(tmp), echo)
            elif name == "marts":
                report["sizes"]["marts"] = measure_marts(Path(tmp), echo)
            else:
                report["sizes"][name] = measure_size(name, specs[name], peers, admin_dsn, Path(tmp), profile, echo)
    if code_dir:
        shutil.rmtree(code_dir, ignore_errors=True)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    report["load_average_at_end"] = list(os.getloadavg())
    if profile:
        report["profile"] = [str(profile.with_suffix(".html")), str(profile.with_suffix(".txt"))]
    text = json.dumps(report, indent=1, ensure_ascii=False, default=str)
    path = args.results / f"{stamp}.json"
    path.write_text(text)
    if not args.profile:
        (args.results / "latest.json").write_text(text)
    print(table(report["sizes"]))
    print(f"\n{report['seconds']:.0f}s in all; written {path}" + (f"; profile {profile}.html/.txt" if profile else ""))
    return report


if __name__ == "__main__":
    main()
