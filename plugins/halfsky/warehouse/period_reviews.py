"""The province's sign-off of each unit's month or year: approve, return, reopen, close by itself.

Events go to ``audit.period_reviews`` (sql/period_reviews.sql), which no role may edit or delete; the view
``audit.period_approval`` derives each unit-period's standing from the newest accepted drop and the newest
event. Approval (or an automatic close) closes the period: ingest rejects a later drop for it as
``period_closed`` (``closure``). A reopening, with a reason, opens it again, and the next accepted drop awaits
approval again; a return, with a comment, leaves it open.

Every event is recorded under the unit-period's advisory lock, the one ``halfsky.ingest.loader.accept`` takes,
so an approval and a drop being accepted for the same period happen one after the other: a drop accepted first
is the one approved (or the approval of an older one is refused), and one accepted after finds the period closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from halfsky.contract.periods import SHANGHAI
from halfsky.contract.rules import Finding
from halfsky.warehouse.ddl import read_ddl

PERIOD_REVIEWS_DDL = read_ddl("period_reviews.sql")

APPROVE, RETURN, REOPEN, AUTO_CLOSE = "approve", "return", "reopen", "auto_close"
CLOSING = (APPROVE, AUTO_CLOSE)


class ReviewRefused(ValueError):
    """An event that cannot be recorded, with why in words a reviewer acts on."""


@dataclass(frozen=True)
class Standing:
    prefecture_code: str
    period: str
    approval_status: str          # not_submitted, awaiting_approval, returned, approved, reopened
    submission_id: int | None     # the newest accepted drop
    last_action: str | None
    last_actor: str | None
    last_decided_at: datetime | None
    last_comment: str | None

    @property
    def closed(self) -> bool:
        return self.approval_status == "approved"

    def closed_finding(self) -> Finding:
        """The rejection of a drop for this closed period: who closed it, when, and whom to ask."""
        at = self.last_decided_at.astimezone(SHANGHAI)
        when = f"{at:%Y-%m-%d %H:%M} (Asia/Shanghai)"
        if self.last_action == AUTO_CLOSE:
            detail = (f"截止日后逾期未审核，已于 {at:%Y-%m-%d %H:%M}（北京时间）自动关闭，如需重新开放请联系省妇联审核人 / "
                      f"closed by itself after the deadline on {when}; ask the province federation's reviewers to reopen it")
        else:
            detail = (f"已由 {self.last_actor} 于 {at:%Y-%m-%d %H:%M}（北京时间）审核通过，如需重新开放请联系 {self.last_actor}（省妇联）/ "
                      f"approved by {self.last_actor} on {when}; ask {self.last_actor} (province federation) to reopen it")
        return Finding("period_closed", value=self.period, detail=detail)


class PeriodClosed(Exception):
    """A drop reached a closed period: ingest rejects it with ``standing.closed_finding()``."""

    def __init__(self, standing: "Standing"):
        super().__init__(f"{standing.prefecture_code} {standing.period} is closed")
        self.standing = standing


def lock_unit_period(conn: psycopg.Connection, prefecture_code: str, period: str) -> None:
    """The lock ingest's accept holds while it loads a drop of the unit-period (same key, same function)."""
    conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"{prefecture_code}/{period}",))


# Two index look-ups (the view audit.period_approval would scan every unit-period to find one).
_STANDING_SQL = """
with newest_drop as (
    select submission_id from ingest.submissions
    where prefecture_code = %(unit)s and period = %(period)s and status = 'accepted'
    order by submission_id desc limit 1
), newest_review as (
    select action, submission_id, actor, decided_at, comment from audit.period_reviews
    where prefecture_code = %(unit)s and period = %(period)s
    order by review_id desc limit 1
)
select audit.approval_status(r.action, r.submission_id, d.submission_id), d.submission_id, r.action, r.actor,
       r.decided_at, r.comment
from (select 1) one left join newest_drop d on true left join newest_review r on true
"""


def standing(conn: psycopg.Connection, prefecture_code: str, period: str) -> Standing:
    row = conn.execute(_STANDING_SQL, {"unit": prefecture_code, "period": period}).fetchone()
    return Standing(prefecture_code, period, *row)


def closure(conn: psycopg.Connection, prefecture_code: str, period: str) -> Standing | None:
    """The unit-period's standing if it is closed (a drop for it must be rejected ``period_closed``), else None."""
    found = standing(conn, prefecture_code, period)
    return found if found.closed else None


def record(conn: psycopg.Connection, prefecture_code: str, period: str, action: str, *, actor: str,
           decided_at: datetime, comment: str | None = None, submission_id: int | None = None,
           warnings_read: bool = False, run_id: str | None = None) -> int:
    """Record one event in its own transaction and return its review_id, or raise ReviewRefused.

    ``submission_id``: the drop the reviewer saw. An approval or return of an older drop than the newest
    accepted one is refused (a newer drop arrived while the review waited: it needs its own review)."""
    comment = (comment or "").strip() or None
    with conn.transaction():
        lock_unit_period(conn, prefecture_code, period)
        now = standing(conn, prefecture_code, period)
        where = f"{prefecture_code} {period}"
        if action in (APPROVE, RETURN, AUTO_CLOSE):
            if now.submission_id is None:
                raise ReviewRefused(f"{where} has no accepted drop to {action.replace('_', ' ')}")
            if now.closed:
                raise ReviewRefused(f"{where} is already approved ({now.last_action} by {now.last_actor} at "
                                    f"{now.last_decided_at:%Y-%m-%d %H:%M %Z}); reopen it first")
            if submission_id is not None and submission_id != now.submission_id:
                raise ReviewRefused(f"{where}: drop {submission_id} was replaced by drop {now.submission_id} while "
                                    "the review waited; the newer drop has a review of its own")
            if action == RETURN and not comment:
                raise ReviewRefused(f"{where}: a return needs a comment saying what to fix")
            if action == RETURN and now.approval_status == "returned":
                raise ReviewRefused(f"{where}: drop {now.submission_id} is returned already")
        elif action == REOPEN:
            if not now.closed:
                raise ReviewRefused(f"{where} is not closed ({now.approval_status}); only an approved period reopens")
            if not comment:
                raise ReviewRefused(f"{where}: a reopening needs a reason")
        else:
            raise ReviewRefused(f"unknown review action {action!r}")
        (review_id,) = conn.execute(
            """insert into audit.period_reviews (prefecture_code, period, action, submission_id, actor, comment,
                                                 warnings_read, decided_at, run_id)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s) returning review_id""",
            (prefecture_code, period, action, now.submission_id, actor, comment, warnings_read and action == APPROVE,
             decided_at, run_id)).fetchone()
    return review_id


def history(conn: psycopg.Connection, prefecture_code: str, period: str) -> list[tuple]:
    """Every event of the unit-period, oldest first: (action, submission_id, actor, comment, decided_at)."""
    return conn.execute(
        """select action, submission_id, actor, comment, decided_at from audit.period_reviews
           where prefecture_code = %s and period = %s order by review_id""", (prefecture_code, period)).fetchall()
