"""build_marts: the dbt project as Airflow tasks (Cosmos), run whenever raw or a period's review changes. Wiring only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from halfsky.orchestration.dag_defaults import task_defaults
from halfsky.orchestration.assets import MARTS, RAW, REVIEWS
from halfsky.orchestration.dbt_task_group import AS_OF_TASK_ID, dbt_task_group

DOC = (Path(__file__).with_suffix(".md")).read_text(encoding="utf-8")


@dag(
    dag_id="build_marts",
    description="Seeds, dimensions, incremental facts and analyst views, each model tested after it is built",
    # a night (or replay) that changed raw, or a review recorded: approval_status reaches the marts the same day
    schedule=(RAW | REVIEWS),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    doc_md=DOC,
    tags=["halfsky", "dbt"],
    params={
        "full_refresh": Param(False, type="boolean", title="Full refresh",
                              description="Rebuild the incremental facts from all of raw (after a model change)."),
        "full_checks": Param(False, type="boolean", title="Full checks",
                             description="Run every data test over every row, not only the prefecture-periods the "
                                         "night changed (always on Sundays and with a full refresh)."),
        "as_of": Param(None, type=["null", "string"], format="date-time", title="As of",
                       description="The moment the completeness report judges lateness at. Empty: the asset event's."),
    },
    default_args=task_defaults(timedelta(minutes=45)),
)
def build_marts():
    @task(task_id=AS_OF_TASK_ID)
    def resolve_as_of() -> str:
        """The as-of of the night that changed raw (or the form's), read by every dbt task."""
        from halfsky.orchestration import run_context
        return run_context.as_of(get_current_context()).isoformat()

    @task
    def check_person_key() -> None:
        """Refuse to build with another person key than the warehouse's: it would publish unmatched keys."""
        from halfsky.warehouse.person_key import ensure_same_key
        from halfsky.config.settings import person_hmac_key, warehouse_dsn

        ensure_same_key(person_hmac_key(), warehouse_dsn())

    @task(outlets=[MARTS])
    def summarize_marts() -> dict:
        from halfsky.orchestration import pipeline
        return pipeline.summarize_marts()

    key_checked = check_person_key()
    resolve_as_of() >> key_checked
    dbt_task_group(setup=key_checked) >> summarize_marts()


build_marts()
