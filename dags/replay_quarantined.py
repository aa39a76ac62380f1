"""replay_quarantined: judge a rejected drop again from its quarantined bytes, chosen in the trigger form. Wiring only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from halfsky.orchestration.dag_defaults import task_defaults
from halfsky.orchestration.assets import RAW

DOC = (Path(__file__).with_suffix(".md")).read_text(encoding="utf-8")


@dag(
    dag_id="replay_quarantined",
    description="Replay one quarantined drop after a fix of reference data; build_marts follows if it loads",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    doc_md=DOC,
    tags=["halfsky", "ingest"],
    params={
        "submission_id": Param(type="integer", minimum=1, title="Submission id",
                               description="From the rejection report, the night's alert or ingest.submissions."),
    },
    default_args=task_defaults(timedelta(minutes=30), retries=0),
)
def replay_quarantined():
    @task(outlets=[RAW])
    def replay(params=None, run_id=None) -> dict:
        from halfsky.orchestration import run_context
        from halfsky.ingest.replay import replay_for_run

        context = get_current_context()
        as_of = run_context.as_of(context)
        result = replay_for_run(int(params["submission_id"]), as_of=as_of, run_id=run_id)
        context["outlet_events"][RAW].extra = {"as_of": as_of.isoformat(), "run_id": run_id,
                                               "replayed": result["submission_id"], "status": result["status"]}
        return result

    replay()


replay_quarantined()
