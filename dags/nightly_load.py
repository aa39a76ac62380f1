"""nightly_load: landing zone -> validation -> raw -> dbt marts. Wiring only; the work is in halfsky.pipeline."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import dag, task

DOC = (Path(__file__).with_suffix(".md")).read_text(encoding="utf-8")


@dag(
    dag_id="nightly_load",
    description="Validate and load prefecture drops, then rebuild the marts",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC,
    tags=["halfsky", "ingest", "dbt"],
    default_args={"retries": 1, "retry_delay": timedelta(minutes=2)},
)
def nightly_load():
    @task
    def prepare_warehouse() -> dict:
        from halfsky import pipeline

        return pipeline.prepare_warehouse()

    @task
    def build_dimensions() -> None:
        from halfsky import pipeline

        pipeline.build_dimensions()

    @task
    def discover_drops(data_interval_end=None) -> list[dict]:
        from halfsky import pipeline

        return pipeline.discover_drops(as_of=data_interval_end)

    @task(map_index_template="{{ task.op_kwargs['batch']['label'] }}", retries=0)
    def ingest_prefecture(batch: dict, data_interval_end=None, run_id=None) -> dict:
        # One mapped task per reporting unit (all unknown folders share one): a bad unit never blocks another.
        from halfsky import pipeline

        return pipeline.ingest_prefecture(batch, as_of=data_interval_end, run_id=run_id)

    @task(trigger_rule="all_done")
    def build_marts(data_interval_end=None) -> None:
        # all_done: accepted drops of healthy prefectures reach the marts even if one prefecture's task failed.
        from halfsky import pipeline

        pipeline.build_marts(as_of=data_interval_end)

    @task(trigger_rule="all_done")
    def summarize(outcomes: list[dict] | None = None, run_id=None) -> dict:
        from halfsky import pipeline

        return pipeline.summarize([outcomes[i] for i in range(len(outcomes))] if outcomes else [], run_id=run_id)

    @task(trigger_rule="one_failed", retries=0)
    def fail_if_any_task_failed() -> None:
        # summarize runs whatever happened; this leaf keeps a partial failure from looking green.
        raise RuntimeError("a task of this run failed: see the failed task's log")

    batches = discover_drops()
    outcomes = ingest_prefecture.expand(batch=batches)
    prepare_warehouse() >> build_dimensions() >> batches
    marts = build_marts()
    outcomes >> marts
    summary = summarize(outcomes)
    marts >> summary
    [batches, outcomes, marts, summary] >> fail_if_any_task_failed()


nightly_load()
