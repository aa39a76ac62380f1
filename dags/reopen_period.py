"""reopen_period: the province reopens a closed unit-period, with a reason, from the trigger form. Wiring only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from halfsky.orchestration.assets import RAW, REVIEWS
from halfsky.orchestration.dag_defaults import task_defaults

DOC = (Path(__file__).with_suffix(".md")).read_text(encoding="utf-8")


@dag(
    dag_id="reopen_period",
    description="Reopen a unit-period the province approved (or that closed by itself), with a reason",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=15),
    doc_md=DOC,
    tags=["halfsky", "approval"],
    params={
        "prefecture": Param(type="string", pattern="^[0-9]{6}$", title="Prefecture 报送单位",
                            description="The reporting unit's 6-digit code, e.g. 654000."),
        "period": Param(type="string", pattern="^[0-9]{4}(-(0[1-9]|1[0-2]))?$", title="Period 报送期",
                        description="YYYY-MM for a month, YYYY for a year."),
        "reason": Param(type="string", minLength=4, title="Reason 原因",
                        description="Why the period reopens; kept in the audit record, shown to the unit."),
    },
    default_args=task_defaults(timedelta(minutes=5), retries=0),
)
def reopen_period():
    @task(inlets=[RAW], outlets=[REVIEWS])  # build_marts shows the reopened period the same day
    def reopen(params=None, run_id=None) -> dict:
        from halfsky.orchestration import period_review, run_context

        context = get_current_context()
        actor = getattr(context["dag_run"], "triggering_user_name", None) or "unknown"
        review_id = period_review.record_decision(params["prefecture"], params["period"], "reopen", actor=actor,
                                                  comment=params["reason"], decided_at=run_context.as_of(context),
                                                  run_id=run_id)
        period_review.announce_review(context, {"prefecture_code": params["prefecture"], "period": params["period"],
                                                "action": "reopen"})
        return {"prefecture_code": params["prefecture"], "period": params["period"], "review_id": review_id,
                "actor": actor}

    reopen()


reopen_period()
