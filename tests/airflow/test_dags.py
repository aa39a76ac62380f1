"""Every DAG file imports cleanly, has no cycle, and documents itself for admins."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_every_dag_imports_without_error(dagbag):
    assert dagbag.import_errors == {}
    assert "nightly_load" in dagbag.dags


def test_dags_have_no_cycles(dagbag):
    for dag in dagbag.dags.values():
        order = [t.task_id for t in dag.topological_sort()]  # raises on a cycle
        assert len(order) == len(dag.task_ids)


def test_nightly_load_is_documented_and_wired(dagbag):
    dag = dagbag.dags["nightly_load"]
    assert "landing_url" in dag.doc_md and "warehouse_db" in dag.doc_md and "needs_attention" in dag.doc_md
    assert dag.max_active_runs == 1 and not dag.catchup
    assert {"prepare_warehouse", "discover_drops", "ingest_prefecture", "summarize", "publish_raw", "purge_personal_data",
            "notify_night", "notify_units", "units_needing_attention", "needs_attention", "night_done",
            "every_task_succeeded"} == set(dag.task_ids)
    assert dag.get_task("discover_drops").upstream_task_ids == {"prepare_warehouse"}
    # Re-running one unit and/or period is a form an admin fills in.
    assert set(dag.params) == {"prefecture", "period"}
    # [core] parallelism is sized for build_marts' light boxes; ingest runs at most worker_slots() at once.
    from halfsky.ingest.batches import worker_slots
    assert dag.get_task("ingest_prefecture").max_active_tis_per_dag == worker_slots()


def test_every_task_has_a_timeout_and_alerts_and_every_run_a_deadline(dagbag):
    from halfsky.orchestration.alert_callbacks import on_task_failure

    for dag in dagbag.dags.values():
        assert dag.dagrun_timeout is not None, dag.dag_id
        for task in dag.tasks:
            assert task.execution_timeout is not None, (dag.dag_id, task.task_id)
            if task.task_id != "needs_attention":  # the night's digest already names those units
                callbacks = task.on_failure_callback
                assert on_task_failure in (callbacks if isinstance(callbacks, list) else [callbacks]), task.task_id


def test_raw_and_marts_are_assets_and_the_marts_rebuild_when_raw_changes(dagbag):
    from halfsky.orchestration.assets import MARTS, RAW, REVIEWS, REVIEWS_WHEN_ANY

    nightly, marts, replay = (dagbag.dags[d] for d in ("nightly_load", "build_marts", "replay_quarantined"))
    assert RAW in nightly.get_task("publish_raw").outlets and RAW in replay.get_task("replay").outlets
    assert MARTS in marts.get_task("summarize_marts").outlets
    assert list(marts.timetable.asset_condition.objects) == [RAW, REVIEWS]  # either starts a build
    review, reopen = dagbag.dags["review_periods"], dagbag.dags["reopen_period"]
    for task in (review.get_task("review"), reopen.get_task("reopen")):
        assert REVIEWS in task.outlets and RAW in task.inlets, task.task_id  # as-of read from the newest night
    # the automatic close updates REVIEWS through an alias, only on a night something closed
    assert review.get_task("close_overdue_periods").outlets == [REVIEWS_WHEN_ANY]
    assert set(replay.params) == {"submission_id"}


def test_only_a_scheduled_night_or_a_run_that_decided_drops_rebuilds_the_marts():
    from halfsky.orchestration.pipeline import raw_changed

    nothing = {"drops": {"accepted": 0, "rejected": 0, "duplicate": 0, "superseded": 0}}
    assert raw_changed(nothing, "scheduled")  # lateness moves on with the date
    assert not raw_changed(nothing, "manual")
    assert raw_changed({"drops": {**nothing["drops"], "rejected": 1}}, "manual")


def test_build_marts_renders_each_dbt_model_with_its_tests_after_it(dagbag):
    dag = dagbag.dags["build_marts"]
    assert dag.get_task("dbt.fct_fund_flows.test").upstream_task_ids == {"dbt.fct_fund_flows.run"}
    # A test of several models waits for all of them; the facts wait for the dimensions' seeds.
    reconcile = dag.get_task("dbt.assert_fund_flows_reconcile_to_raw_test")
    assert "dbt.fct_fund_flows.test" in reconcile.upstream_task_ids
    assert dag.get_task("check_person_key").downstream_task_ids <= {t for t in dag.task_ids if t.startswith("dbt.")}
    assert {"full_refresh", "full_checks", "as_of"} == set(dag.params)


def test_dag_files_touch_no_database_at_import(monkeypatch):
    """Parsing must work with no warehouse configured at all."""
    import runpy

    for name in ("AIRFLOW_CONN_WAREHOUSE_DB", "WAREHOUSE_DSN", "AIRFLOW_VAR_LANDING_URL"):
        monkeypatch.delenv(name, raising=False)
    for path in DAGS_DIR.glob("*.py"):
        runpy.run_path(str(path))
