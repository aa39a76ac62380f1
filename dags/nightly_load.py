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
    default_args={"retries": 1, "retry_delay": timedelta(minutes=5)},
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
    def summarize() -> dict:
        from halfsky.marts_summary import format_counts, table_counts

        counts = table_counts()
        print("marts after this run:\n" + format_counts(counts))
        return counts

    prepare_warehouse() >> build_dimensions() >> summarize()


nightly_load()
