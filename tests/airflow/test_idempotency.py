"""Idempotency (issue 10, item 1): rerunning a night, or clearing any one task, leaves raw and the marts as they
were; two nightly loads started at once on one landing tree decide and load every drop exactly once.

Real Airflow (`airflow dags test` / `airflow tasks test` with a SQLite home), real dbt, real Postgres. The site
(tests/dag_site.py) is loaded once: nightly_load for 2026-10-21, the marts built (halfsky.orchestration.pipeline: seeds,
dimensions, facts), then build_marts building them all again (Cosmos' one dbt build). Every test compares
table checksums (raw.*, ingest.*, marts.*: every row of every column but the few that record which run touched a
row, dag_site.RUN_COLUMNS) with the state the first marts build left.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections import Counter

import psycopg
import pytest

from dag_site import (BUILD_MARTS_CHILD, LOGICAL_DATE, MARTS_AS_OF, checksums, dags_test, differences,
                      latest_run_id, rows_of, run_child, shared_site, tasks_test, ti_state,
                      xcom)
from ingest_helpers import make_tree


@pytest.fixture(scope="session")
def site(admin_dsn, tmp_path_factory):
    with shared_site(admin_dsn, tmp_path_factory) as shared:
        yield shared


def _explain(site: dict, before: dict, after: dict) -> str:
    """Which tables changed, and for ingest.submissions the rows that did (the usual suspect)."""
    changed = differences(before, after)
    text = json.dumps(changed, indent=1, default=str)
    if "ingest.submissions" in changed:
        now = rows_of(site["dsn"], "ingest.submissions", exclude=("run_id",))
        text += f"\nsubmissions now (without run_id), {len(now)} rows:\n" + "\n".join(sorted(now))[:4000]
    return text


def _assert_unchanged(site: dict, what: str) -> None:
    after = checksums(site["dsn"])
    baseline = site["after_pipeline.build_marts"]
    assert after == baseline, f"{what} changed the warehouse:\n{_explain(site, baseline, after)}"


def test_the_site_loaded_something_worth_rerunning(site):
    """The baseline is no empty warehouse: drops of every outcome, rows in raw and in the facts."""
    with psycopg.connect(site["dsn"]) as conn:
        statuses = Counter(dict(conn.execute("select status, count(*) from ingest.submissions group by 1").fetchall()))
    expected = Counter(d["expected_status"] for d in site["truth"]["drops"])
    assert statuses == expected
    state = site["after_pipeline.build_marts"]
    for table in ("raw.beneficiaries", "raw.funds", "marts.fct_benefits", "marts.fct_fund_flows", "marts.dim_beneficiary"):
        assert state[table][0] > 0, (table, state[table])


def test_build_marts_building_everything_again_changes_nothing(site):
    """The marts built, then build_marts (Cosmos: one dbt build, a box per node) building every model again for
    the same as-of, the person-keyed ones included: they find nothing new and every table stays as it was."""
    first, second = site["after_pipeline.build_marts"], site["after_build_marts"]
    assert first == second, _explain(site, first, second)


def test_building_the_marts_again_for_the_same_as_of_changes_nothing(site):
    run = run_child(site["env"], BUILD_MARTS_CHILD, MARTS_AS_OF, log=site["logs"])
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    _assert_unchanged(site, "building the marts again")


def _clear_and_rerun(site: dict, dag_id: str, task_id: str, map_index: int = -1) -> str:
    """Run one task instance of the site's first run of ``dag_id`` again; returns its output."""
    run_id = site[f"{dag_id}_run_id"]
    # `airflow dags test` of a logical date replaces the run it had made for that date: the rerun test below
    # must come after this one (it does, in file order).
    assert latest_run_id(site["airflow_db"], dag_id) == run_id, f"the first {dag_id} run was replaced"
    args = ("--map-index", str(map_index)) if map_index >= 0 else ()
    run = tasks_test(site["env"], dag_id, task_id, run_id, *args, log=site["logs"])
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert "__airflow_temporary_run" not in output and run_id in output  # that run's task instance, not a new run's
    assert ti_state(site["airflow_db"], dag_id, task_id, run_id, map_index) == "success", output[-4000:]
    return output


def test_clearing_one_mapped_ingest_task_changes_nothing(site):
    """The first batch (map index 0: the reporting units, not the unknown folders) run again in the first run,
    with the drops discover_drops handed it then, every one of them decided since."""
    (batch, *_) = xcom(site["airflow_db"], "nightly_load", site["nightly_load_run_id"], "discover_drops")
    output = _clear_and_rerun(site, "nightly_load", "ingest_prefecture", 0)
    assert f"batch of {len(batch['paths'])} drops" in output  # it ran, over the drops it was first given
    _assert_unchanged(site, "clearing ingest_prefecture[0]")


def test_clearing_one_dbt_model_task_changes_nothing(site):
    """An incremental fact keyed by person (its rows carry beneficiary keys), run again in the build_marts run."""
    output = _clear_and_rerun(site, "build_marts", "dbt.fct_benefits.run")
    assert "incremental model marts.fct_benefits" in output
    _assert_unchanged(site, "clearing dbt.fct_benefits.run")


def test_rerunning_nightly_load_for_the_same_interval_changes_nothing_and_decides_nothing_again(site):
    run = dags_test(site["env"], "nightly_load", LOGICAL_DATE, log=site["logs"])
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    rerun_id = latest_run_id(site["airflow_db"], "nightly_load")
    assert rerun_id != site["nightly_load_run_id"]  # a second run of the interval
    _assert_unchanged(site, "rerunning nightly_load")
    with psycopg.connect(site["dsn"]) as conn:
        touched = conn.execute("select drop_path from ingest.submissions where run_id = %s", (rerun_id,)).fetchall()
    assert touched == [], f"the rerun registered or decided drops the first run had decided: {touched}"


# --- two loads at once --------------------------------------------------------------------------------------

RACER = r"""
import json, sys
from datetime import datetime
from halfsky.orchestration import pipeline
dsn, landing, quarantine, as_of, name = sys.argv[1:]
print("ready", flush=True)
sys.stdin.readline()  # everyone imported: go together
outcomes, errors = [], []
for batch in pipeline.discover_drops(datetime.fromisoformat(as_of), dsn=dsn, landing=landing):
    try:
        outcomes.append(pipeline.ingest_prefecture(batch, datetime.fromisoformat(as_of), run_id=name, dsn=dsn,
                                                   landing=landing, quarantine=quarantine))
    except Exception as exc:  # a batch that failed: reported, and the test fails on it
        errors.append(f"{type(exc).__name__}: {exc}")
print("RESULT " + json.dumps({"outcomes": outcomes, "errors": errors}), flush=True)
"""
DECIDED = ("accepted", "rejected", "duplicate", "superseded")
ROUNDS = ("2026-07", "2026-08", "2026-09")  # each round lands a new month of drops on the same tree
AS_OF = "2026-10-21T02:00:00+08:00"


@pytest.fixture(scope="module")
def race_site(fresh_database, tmp_path_factory):
    from halfsky.orchestration import pipeline

    base = tmp_path_factory.mktemp("race")
    with fresh_database("race") as dsn:
        pipeline.prepare_warehouse(dsn)
        landing = base / "landing"
        landing.mkdir()
        yield {"dsn": dsn, "base": base, "landing": landing, "quarantine": base / "quarantine"}


def _land_round(race: dict, period: str) -> dict:
    """Generate one month of drops (valid, a resubmission, a duplicate, rejected ones) and move them onto the tree."""
    scratch = race["base"] / f"gen_{period}"
    _, truth = make_tree(scratch, "--prefectures", "3", "--months", "1", "--first-period", period, "--rows", "8",
                         "--no-annual", "--invalid", "code_list,duplicate_key", "--resubmissions", "1",
                         "--duplicates", "1", "--seed", str(int(period[-2:])))
    for unit in (scratch / "landing").iterdir():
        for month in unit.iterdir():
            target = race["landing"] / unit.name / month.name
            assert not target.exists(), target
            target.parent.mkdir(exist_ok=True)
            shutil.move(str(month), target)  # a rename keeps the drops' mtimes: their received_at
    return truth


def _race(race: dict, round_no: int) -> list[dict]:
    """Two processes, each discovering and ingesting every due drop, released at the same instant."""
    procs, logs = [], []
    for n in (1, 2):
        argv = [sys.executable, "-c", RACER, race["dsn"], str(race["landing"]), str(race["quarantine"]), AS_OF,
                f"race{round_no}_proc{n}"]
        logs.append(race["base"] / f"race{round_no}_proc{n}.log")
        with logs[-1].open("w") as log:  # a file, not a pipe: a chatty process never waits for the test to read
            procs.append(subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True))
    for proc, log in zip(procs, logs):
        assert proc.stdout.readline().strip() == "ready", log.read_text()[-3000:]
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc, log in zip(procs, logs):
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, log.read_text()[-3000:]
        line = next(l for l in out.splitlines() if l.startswith("RESULT "))
        results.append(json.loads(line[len("RESULT "):]))
    return results


@pytest.mark.parametrize("round_no", range(len(ROUNDS)))
def test_two_nightly_loads_at_once_decide_and_load_every_drop_exactly_once(race_site, round_no):
    truth = _land_round(race_site, ROUNDS[round_no])
    paths = {d["path"] for d in truth["drops"]}
    started = time.perf_counter()
    results = _race(race_site, round_no)
    elapsed = time.perf_counter() - started
    assert [r["errors"] for r in results] == [[], []]

    # Each drop of the round was decided by exactly one of the two processes.
    verdicts = [(n, d["path"], d["status"]) for n, r in enumerate(results, 1) for o in r["outcomes"] for d in o["drops"]
                if d["status"] in DECIDED]
    decided = Counter(path for _, path, _ in verdicts)
    twice = {p: [v for v in verdicts if v[1] == p] for p, c in decided.items() if c > 1}
    assert not twice, f"round {round_no}: drops decided by both processes ({elapsed:.1f} s): {twice}"
    assert set(decided) == paths, f"undecided: {paths - set(decided)}; not of this round: {set(decided) - paths}"

    with psycopg.connect(race_site["dsn"]) as conn:
        rows = conn.execute("select drop_path, count(*) over (partition by drop_path), submission_id, status, row_counts "
                            "from ingest.submissions where drop_path = any(%s)", (list(paths),)).fetchall()
        raw = {}
        for form in ("activity", "funds", "beneficiaries"):
            for submission_id, count in conn.execute(
                    f"select submission_id, count(*) from raw.{form} group by 1").fetchall():
                raw[(submission_id, form)] = count
        dupes_in_raw = {}
        for form in ("activity", "funds", "beneficiaries"):
            for submission_id, row_number, count in conn.execute(
                    f"select submission_id, row_number, count(*) from raw.{form} group by 1, 2 having count(*) > 1").fetchall():
                dupes_in_raw[(form, submission_id, row_number)] = count
    assert len(rows) == len(paths) and all(r[1] == 1 for r in rows)
    final = {r[0]: r[3] for r in rows}
    expected = {d["path"]: d["expected_status"] for d in truth["drops"]}
    wrong = {p: f"{final[p]}, expected {expected[p]}" for p in paths if final[p] != expected[p]}
    assert not wrong, (f"round {round_no}: final statuses differ from a single run's: {wrong}; who decided what, "
                       f"in order: {sorted(verdicts, key=lambda v: v[1])}")
    assert not dupes_in_raw, f"rows loaded twice: {dupes_in_raw}"
    for path, _, submission_id, status, counts in rows:
        loaded = {form: raw.get((submission_id, form), 0) for form in ("activity", "funds", "beneficiaries")}
        if status in ("accepted", "superseded"):
            assert loaded == {form: counts.get(form, 0) for form in loaded}, (path, status, counts, loaded)
        else:
            assert not any(loaded.values()), (path, status, loaded)
