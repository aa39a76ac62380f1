"""The province's review of each unit-period, as Airflow human-in-the-loop tasks (dags/review_periods.py).

After each night that changed raw, one ``PeriodReviewOperator`` task waits, under Required Actions in the UI,
per unit-period whose newest accepted drop nobody has been asked about yet. Its body shows the drop's totals
beside the same month (or year) a year earlier, its warnings and where its report is. The reviewer approves
(which closes the period: halfsky.warehouse.period_reviews) or returns it with a comment. A period past the
deadline by ``close_after_days`` (an Airflow Variable, unset by default: halfsky.config.settings) closes by itself.

Who may answer: ``HALFSKY_REVIEWERS``, the auth manager's user ids of the province's reviewers, comma
separated (``id`` or ``id:display name``). Airflow's HITL API refuses anyone else (403). Unset, any user
allowed to act on the DAG's tasks may answer.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param

from halfsky.contract.periods import SHANGHAI

log = logging.getLogger(__name__)

APPROVE_OPTION = "批准 Approve"
RETURN_OPTION = "退回 Return"
OPTIONS = [APPROVE_OPTION, RETURN_OPTION]
REVIEWERS_ENV = "HALFSKY_REVIEWERS"
COMMENT_PARAMS = {
    # Optional in the form (an approval needs none); a return without one is refused when it is recorded.
    "comment": Param(None, type=["null", "string"], title="意见 Comment",
                     description="退回时必填：请写明需要更正的内容。Required to return: what the unit must fix."),
}


def reviewers(value: str | None = None) -> list[dict] | None:
    """HALFSKY_REVIEWERS as Airflow HITL users ([{"id", "name"}]), or None when it is unset."""
    value = os.environ.get(REVIEWERS_ENV, "") if value is None else value
    users = []
    for entry in filter(None, (part.strip() for part in value.split(","))):
        user_id, _, name = entry.partition(":")
        users.append({"id": user_id.strip(), "name": (name or user_id).strip()})
    return users or None


class PeriodReviewOperator(HITLOperator):
    """Approve or return one unit-period's newest accepted drop; records the answer when it comes."""

    template_fields = (*HITLOperator.template_fields, "prefecture_code", "period")

    def __init__(self, *, prefecture_code: str, period: str, submission_id: int, **kwargs: Any) -> None:
        kwargs.setdefault("options", OPTIONS)
        kwargs.setdefault("params", COMMENT_PARAMS)
        kwargs.setdefault("assigned_users", reviewers())
        kwargs.setdefault("subject", f"{prefecture_code} {period}")
        super().__init__(**kwargs)
        self.prefecture_code, self.period, self.submission_id = prefecture_code, period, submission_id

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict:
        answer = super().execute_complete(context, event)
        from halfsky.warehouse.period_reviews import APPROVE, RETURN, ReviewRefused

        action = APPROVE if answer["chosen_options"] == [APPROVE_OPTION] else RETURN
        user = answer["responded_by_user"] or {}
        actor = user.get("name") or user.get("id") or "unknown"
        comment = (answer["params_input"] or {}).get("comment") or None
        try:
            review_id = record_decision(self.prefecture_code, self.period, action, actor=actor, comment=comment,
                                        submission_id=self.submission_id, decided_at=answer["responded_at"],
                                        run_id=context["run_id"])
        except ReviewRefused as refused:
            raise ReviewRefused(f"{refused} (nothing was recorded; clear this task to answer again)") from None
        log.info("%s %s: %s by %s (review %s)%s", self.prefecture_code, self.period, action, actor, review_id,
                 f": {comment}" if comment else "")
        announce_review(context, {"prefecture_code": self.prefecture_code, "period": self.period, "action": action})
        if action == RETURN:  # recorded first: a mail server that is down never loses the return
            from halfsky.orchestration.unit_notices import notify_return
            notify_return(self.prefecture_code, self.period, reviewer=actor, comment=comment or "")
        return {"prefecture_code": self.prefecture_code, "period": self.period, "action": action, "actor": actor,
                "comment": comment, "review_id": review_id}


def announce_review(context: Any, what: dict) -> None:
    """Update the reviews asset, which starts build_marts, so the marts show the province's word the same day.
    Its as-of is the newest night's (the task lists RAW in its inlets), never the answer's wall-clock time.
    A task whose outlet is REVIEWS_WHEN_ANY updates it through the alias, only when it calls this."""
    from halfsky.orchestration import run_context
    from halfsky.orchestration.assets import REVIEWS, REVIEWS_WHEN_ANY

    extra = {"as_of": run_context.marts_as_of(context, fallback=run_context.as_of(context)).isoformat(), **what}
    if REVIEWS_WHEN_ANY in context["task"].outlets:
        context["outlet_events"][REVIEWS_WHEN_ANY].add(REVIEWS, extra=extra)
    else:
        context["outlet_events"][REVIEWS].extra = extra


def record_decision(prefecture_code: str, period: str, action: str, *, actor: str, decided_at: datetime,
                    comment: str | None = None, submission_id: int | None = None, run_id: str | None = None,
                    dsn: str | None = None) -> int:
    import psycopg

    from halfsky.config.settings import warehouse_dsn
    from halfsky.warehouse.period_reviews import APPROVE, record

    with psycopg.connect(dsn or warehouse_dsn(), autocommit=True) as conn:
        return record(conn, prefecture_code, period, action, actor=actor, decided_at=decided_at, comment=comment,
                      submission_id=submission_id, warnings_read=action == APPROVE, run_id=run_id)


# --- what waits for review, and what it shows -----------------------------------------------------------------

_NEWLY_AWAITING = """
with awaiting as (
    select prefecture_code, period, submission_id from audit.period_approval
    where approval_status = 'awaiting_approval'
), asked as (
    insert into ingest.review_requests (prefecture_code, period, submission_id, run_id, requested_at)
    select prefecture_code, period, submission_id, %(run_id)s, %(as_of)s from awaiting
    on conflict do nothing
    returning prefecture_code, period, submission_id
)
select prefecture_code, period, submission_id from asked order by prefecture_code, period
"""


def periods_to_review(*, as_of: datetime, run_id: str | None, dsn: str | None = None) -> list[dict]:
    """One review per unit-period newly awaiting approval, each with its subject and body; each is asked once
    (ingest.review_requests), however many nights it then waits."""
    import psycopg

    from halfsky.config.settings import warehouse_dsn

    with psycopg.connect(dsn or warehouse_dsn(), autocommit=True) as conn:
        with conn.transaction():
            awaiting = conn.execute(_NEWLY_AWAITING, {"run_id": run_id, "as_of": as_of}).fetchall()
        reviews = [{"prefecture_code": unit, "period": period, "submission_id": submission_id,
                    "subject": review_subject(unit, period),
                    "body": review_body(conn, unit, period, submission_id)}
                   for unit, period, submission_id in awaiting]
    log.info("%d unit-period(s) newly awaiting approval%s", len(reviews),
             ": " + ", ".join(f"{r['prefecture_code']} {r['period']}" for r in reviews) if reviews else "")
    return reviews


def _year_earlier(period: str) -> str:
    return f"{int(period[:4]) - 1}{period[4:]}"


_TOTALS = """
select
    (select coalesce(sum(events), 0) from raw.activity where submission_id = %(s)s),
    (select coalesce(sum(beneficiaries), 0) from raw.activity where submission_id = %(s)s),
    (select coalesce(sum(amount_yuan) filter (where flow_type = 'INCOMING' and not coalesce(in_kind, false)), 0)
       from raw.funds where submission_id = %(s)s),
    (select coalesce(sum(amount_yuan) filter (where flow_type in ('DISBURSEMENT', 'EXPENDITURE') and not coalesce(in_kind, false)), 0)
       from raw.funds where submission_id = %(s)s),
    (select count(*) from raw.beneficiaries where submission_id = %(s)s)
"""
TOTAL_NAMES = ("活动场次 events", "受益人次 person-times", "到位资金(元) money in (yuan)",
               "支出与拨付(元) money out (yuan)", "受益人明细行 beneficiary rows")


def _totals(conn, submission_id: int | None) -> tuple | None:
    if submission_id is None:
        return None
    return conn.execute(_TOTALS, {"s": submission_id}).fetchone()


def review_subject(unit: str, period: str) -> str:
    from halfsky.contract.reference.code_lists import unit_label

    return f"审核 Review {unit_label(unit)} {period}"


def _number(value, money: bool) -> str:
    return f"{Decimal(value):,.2f}" if money else f"{int(value):,}"  # Postgres sums counts as numeric too


def review_body(conn, unit: str, period: str, submission_id: int) -> str:
    """Markdown for the review task: totals beside a year earlier, the drop's warnings, where its report is."""
    earlier_period = _year_earlier(period)
    from halfsky.ingest.drop_report import report_location
    from halfsky.warehouse.period_reviews import standing

    now = _totals(conn, submission_id)
    earlier = _totals(conn, standing(conn, unit, earlier_period).submission_id)  # its newest accepted drop
    drop_name, received_at, reasons, quarantine_path, is_late = conn.execute(
        """select drop_name, received_at, reasons, quarantine_path, is_late from ingest.submissions
           where submission_id = %s""", (submission_id,)).fetchone()
    lines = [f"**{unit} {period}**, 报送文件 drop `{drop_name}` (submission {submission_id}), "
             f"收到 received {received_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M} 北京时间 Beijing time"
             f"{' — 逾期 late' if is_late else ''}", "",
             f"| 指标 figure | {period} | {earlier_period} | 变化 change |", "|---|---:|---:|---:|"]
    for name, value, before in zip(TOTAL_NAMES, now, earlier or (None,) * len(TOTAL_NAMES)):
        money = "yuan" in name
        change = "—"
        if before not in (None, 0):
            change = f"{(Decimal(value) - Decimal(before)) / Decimal(before):+.1%}"
        lines.append(f"| {name} | {_number(value, money)} | "
                     f"{'未报送 not sent' if before is None else _number(before, money)} | {change} |")
    warnings = [r for r in reasons or [] if r.get("severity") == "warning"]
    lines += ["", f"**预警 Warnings** ({sum(r.get('count', 0) for r in warnings)})"]
    lines += [f"- `{r['rule']}` ×{r['count']}: {r['zh']} / {r['en']}" for r in warnings] or ["- 无 none"]
    if warnings and quarantine_path:
        lines += ["", f"预警报告 Warnings report: `{report_location(quarantine_path)}`"]
    lines += ["", "批准即表示已阅读上述预警，并关闭该报送期；退回须填写意见。",
              "Approving records that the warnings were read and closes the period; a return needs a comment."]
    return "\n".join(lines)


# --- closing by itself -----------------------------------------------------------------------------------------

def close_overdue_periods(*, as_of: datetime, days: int | None, run_id: str | None = None,
                          dsn: str | None = None) -> list[str]:
    """Close every unit-period with an accepted drop that is still unapproved ``days`` after its deadline."""
    if days is None:
        return []
    import psycopg

    from halfsky.config.settings import warehouse_dsn
    from halfsky.contract.periods import YEAR_END_FORMS, deadline
    from halfsky.warehouse.period_reviews import AUTO_CLOSE, ReviewRefused, record

    closed = []
    with psycopg.connect(dsn or warehouse_dsn(), autocommit=True) as conn:
        open_periods = conn.execute(
            """select prefecture_code, period from audit.period_approval
               where approval_status in ('awaiting_approval', 'returned', 'reopened')
               order by prefecture_code, period""").fetchall()
        for unit, period in open_periods:
            if deadline(period, YEAR_END_FORMS) + timedelta(days=days) > as_of:
                continue
            try:
                record(conn, unit, period, AUTO_CLOSE, actor=f"halfsky: {days} days after the deadline",
                       decided_at=as_of, comment=f"unapproved {days} days after the deadline", run_id=run_id)
            except ReviewRefused as refused:  # approved meanwhile
                log.info("%s", refused)
                continue
            closed.append(f"{unit} {period}")
    log.info("closed by themselves (close_after_days=%s): %s", days, ", ".join(closed) or "none")
    return closed
