"""What an admin does from the trigger forms, as real `airflow dags test` runs: re-run one unit, replay a drop.

Two things keep the runs short without changing what they run. The Airflow home's dags folder holds only the two
DAGs under test (nightly_load, replay_quarantined): every `dags test` parses the whole folder, and build_marts
(tests/airflow/test_marts.py, tests/deploy) would import Cosmos and dbt and render its 123 tasks each time. And a
cluster policy (ingest_helpers.short_retries) shortens every task's retry delay to a second:
the retries still happen, but `dags test` no longer sleeps out the production two minutes before one.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess

import psycopg
import pytest

from conftest import REPO_ROOT
from ingest_helpers import AIRFLOW, airflow_home, asset_event_extras, make_tree, short_retries

DAGS = ("nightly_load", "replay_quarantined")


@pytest.fixture(scope="module")
def site(fresh_database, tmp_path_factory):
    base = tmp_path_factory.mktemp("operations")
    root, truth = make_tree(base, "--prefectures", "2", "--months", "1", "--rows", "8", "--invalid", "code_list",
                            "--no-annual", "--seed", "5")
    dags = base / "dags"
    dags.mkdir()
    for name in DAGS:
        for suffix in (".py", ".md"):  # each DAG file reads its .md beside it
            (dags / f"{name}{suffix}").symlink_to(REPO_ROOT / "dags" / f"{name}{suffix}")
    with fresh_database("ops") as dsn:
        home = base / "airflow"
        env = airflow_home(home, dsn, root, base / "quarantine", "ops-key-" + "k" * 32)
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
        short_retries(home)
        yield {"dsn": dsn, "root": root, "truth": truth, "base": base, "env": env, "airflow_db": home / "airflow.db"}


def _dags_test(site, dag_id: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([AIRFLOW, "dags", "test", dag_id, *args], env=env or site["env"], capture_output=True,
                          text=True)


def _statuses(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute("select drop_path, status from ingest.submissions").fetchall())


def test_a_run_for_one_prefecture_decides_only_its_drops(site):
    units = sorted({d["prefecture_code"] for d in site["truth"]["drops"] if d["expected_status"] == "accepted"})
    run = _dags_test(site, "nightly_load", "2026-10-21", "--conf", json.dumps({"prefecture": units[0]}))
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    decided = _statuses(site["dsn"])
    assert decided and {path.split("/")[0] for path in decided} == {units[0]}
    assert "outside_the_requested_unit_or_period" in run.stdout + run.stderr

    run = _dags_test(site, "nightly_load", "2026-10-22")  # the next night: everything else
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert {path.split("/")[0] for path in _statuses(site["dsn"])} >= set(units)


def test_replaying_a_quarantined_drop_is_red_until_the_reference_fix_then_loads_and_updates_raw(site, tmp_path):
    from halfsky.contract.reference import code_lists

    drop = next(d for d in site["truth"]["drops"] if d.get("expected_rule") == "code_list")
    with psycopg.connect(site["dsn"]) as conn:
        (submission_id,) = conn.execute("select submission_id from ingest.submissions where drop_path = %s",
                                        (drop["path"],)).fetchone()
    conf = json.dumps({"submission_id": submission_id})

    again = _dags_test(site, "replay_quarantined", "--conf", conf)
    assert again.returncode == 1
    assert f"REJECTED again {drop['path']} | submission {submission_id} | code_list×1" in again.stdout + again.stderr

    fixed = tmp_path / "seeds"
    shutil.copytree(code_lists.seed_dir(), fixed)
    with (fixed / "programs.csv").open("a", encoding="utf-8") as fh:
        fh.write("MOTHER_PARCELS,母亲邮包（旧编码）,Mother Parcel (old code),welfare,goods\n")
    loaded = _dags_test(site, "replay_quarantined", "--conf", conf, env={**site["env"], "HALFSKY_REFERENCE_DIR": str(fixed)})
    assert loaded.returncode == 0, (loaded.stdout + loaded.stderr)[-3000:]
    assert _statuses(site["dsn"])[drop["path"]] in ("accepted", "superseded")
    # The raw asset changed, with what build_marts needs to follow: the as-of time and the replayed drop.
    events = asset_event_extras(site["airflow_db"], "halfsky_raw")
    replayed = [e for e in events if e.get("replayed") == submission_id]
    assert replayed and replayed[0]["status"] in ("accepted", "superseded") and replayed[0]["as_of"]


def _task_states(site, logical_date: str) -> dict[str, str]:
    with sqlite3.connect(site["airflow_db"]) as db:
        return dict(db.execute("select t.task_id, t.state from task_instance t join dag_run r on r.dag_id = t.dag_id "
                               "and r.run_id = t.run_id where r.dag_id = 'nightly_load' and r.logical_date like ?",
                               (f"{logical_date}%",)).fetchall())


def _dag_run_state(site, logical_date: str) -> str:
    with sqlite3.connect(site["airflow_db"]) as db:
        (state,) = db.execute("select state from dag_run where dag_id = 'nightly_load' and logical_date like ?",
                              (f"{logical_date}%",)).fetchone()
    return state


def test_a_night_whose_landing_root_is_missing_is_red_and_names_the_path(site):
    """Not 0 drops and a green night with every unit "missing": the listing fails, naming the path, and so the run."""
    missing = site["base"] / "no-such-landing"
    env = {**site["env"], "AIRFLOW_VAR_LANDING_URL": str(missing)}
    run = _dags_test(site, "nightly_load", "2026-10-25", env=env)
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-3000:]
    assert f"LandingRootError: the landing zone {missing} does not exist" in output
    assert _dag_run_state(site, "2026-10-25") == "failed"
    states = _task_states(site, "2026-10-25")
    assert states["discover_drops"] == "failed" and states["every_task_succeeded"] == "failed", states
    health = [line for line in output.splitlines() if "AirflowFailException: halfsky itself failed in" in line]
    assert health and "discover_drops" in health[-1], health  # the red leaf names the task to open
    with sqlite3.connect(site["airflow_db"]) as db:
        (tries,) = db.execute("select t.try_number from task_instance t join dag_run r on r.dag_id = t.dag_id and "
                              "r.run_id = t.run_id where r.dag_id = 'nightly_load' and t.task_id = 'discover_drops' "
                              "and r.logical_date like '2026-10-25%'").fetchone()
    assert tries == 2, "discover_drops failed after its one retry (task_defaults), not on its first try"


def test_a_night_over_an_empty_landing_root_is_green(site):
    """A fresh install: the folder is there and empty. Nothing to decide, nothing wrong."""
    empty = site["base"] / "empty-landing"
    empty.mkdir()
    run = _dags_test(site, "nightly_load", "2026-10-26", env={**site["env"], "AIRFLOW_VAR_LANDING_URL": str(empty)})
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert _dag_run_state(site, "2026-10-26") == "success"
    assert _task_states(site, "2026-10-26")["discover_drops"] == "success"
