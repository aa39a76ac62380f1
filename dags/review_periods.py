"""review_periods: the province approves or returns each unit-period, as Airflow human-in-the-loop tasks. Wiring only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import dag, get_current_context, task

from halfsky.orchestration.assets import RAW, REVIEWS, REVIEWS_WHEN_ANY
from halfsky.orchestration.dag_defaults import task_defaults
from halfsky.orchestration.period_review import PeriodReviewOperator

DOC = (Path(__file__).with_suffix(".md")).read_text(encoding="utf-8")
REVIEW_WAIT = timedelta(days=62)  # two months for the province to answer


@dag(
    dag_id="review_periods",
    description="One approval task per unit-period newly awaiting the province's sign-off; overdue periods close",
    schedule=[RAW],
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    # A night's reviews may wait for weeks while the next nights ask about other periods.
    max_active_runs=64,
    dagrun_timeout=REVIEW_WAIT + timedelta(days=1),
    doc_md=DOC,
    tags=["halfsky", "approval"],
    default_args=task_defaults(timedelta(minutes=10)),
)
def review_periods():
    @task(inlets=[RAW], outlets=[REVIEWS_WHEN_ANY])
    def close_overdue_periods(run_id=None) -> list[str]:
        """Close the periods still unapproved close_after_days after their deadline (none unless it is set),
        and start build_marts when any closed."""
        from halfsky.config.settings import close_after_days
        from halfsky.orchestration import period_review, run_context

        context = get_current_context()
        closed = period_review.close_overdue_periods(as_of=run_context.as_of(context), days=close_after_days(),
                                                     run_id=run_id)
        if closed:
            period_review.announce_review(context, {"action": "auto_close", "periods": closed})
        return closed

    @task
    def periods_to_review(run_id=None) -> list[dict]:
        from halfsky.orchestration import period_review, run_context

        return period_review.periods_to_review(as_of=run_context.as_of(get_current_context()), run_id=run_id)

    reviews = periods_to_review()
    close_overdue_periods() >> reviews
    # Waits under Required Actions until a reviewer answers, up to REVIEW_WAIT (then red: clear it to ask again).
    # No retry: a retry would ask again, beside the answer already given. Each answer recorded updates the
    # reviews asset (the newest night's as-of read from RAW), so build_marts shows it the same day.
    PeriodReviewOperator.partial(task_id="review", map_index_template="{{ task.subject }}", retries=0,
                                 response_timeout=REVIEW_WAIT, inlets=[RAW], outlets=[REVIEWS]).expand_kwargs(reviews)


review_periods()
