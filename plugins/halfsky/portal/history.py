"""A unit's submissions as its staff see them: every drop the night has decided (accepted, rejected, superseded,
duplicate, and for the newest accepted one of a period, awaiting approval or approved), and every upload the
night has not seen yet (placed for the night, or refused by the check and never placed).

Times are shown in Asia/Shanghai, with each period's deadline beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from halfsky.contract.periods import SHANGHAI, deadline, is_period

# What a row's state is called on the page, Chinese first.
STATE_WORDS = {
    "accepted": ("已接收", "accepted"),
    "rejected": ("已退回", "rejected"),
    "superseded": ("已被更新的报送替代", "superseded"),
    "duplicate": ("重复报送", "duplicate"),
    "pending": ("待处理", "pending"),
    "awaiting_approval": ("已接收，待省妇联审核", "awaiting approval"),
    "returned": ("已接收，审核退回", "returned for correction"),
    "approved": ("已审核通过", "approved"),
    "reopened": ("已重新开放", "reopened"),
    "placed": ("检查通过，待夜间入库", "checked, awaiting the night"),
    "refused_by_check": ("检查未通过，未报送", "refused by the check, not sent"),
}


@dataclass(frozen=True)
class Entry:
    period: str
    name: str                 # the sender's name for an upload, the drop's name otherwise
    state: str                # a key of STATE_WORDS
    received_at: datetime
    deadline: datetime | None
    reasons: list[dict]
    row_counts: dict
    upload_id: int | None     # the upload's report, when it came through the page
    submission_id: int | None  # the night's report

    @property
    def words(self) -> tuple[str, str]:
        return STATE_WORDS[self.state]

    @property
    def received_local(self) -> str:
        return f"{self.received_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"

    @property
    def deadline_local(self) -> str:
        return f"{self.deadline.astimezone(SHANGHAI):%Y-%m-%d %H:%M}" if self.deadline else ""

    @property
    def late(self) -> bool:
        return bool(self.deadline and self.received_at > self.deadline)


_HISTORY_SQL = """
select s.period, coalesce(u.file_name, s.drop_name), s.status, a.approval_status, s.received_at, s.reasons,
       s.row_counts, u.upload_id, s.submission_id
from ingest.submissions s
left join portal.uploads u on u.landed_path = s.drop_path
left join audit.period_approval a
       on a.prefecture_code = s.prefecture_code and a.period = s.period and a.submission_id = s.submission_id
where s.prefecture_code = %(unit)s
union all
select u.period, u.file_name, case when u.landed_path is null then 'refused_by_check' else 'placed' end, null,
       u.received_at, u.reasons, u.row_counts, u.upload_id, null
from portal.uploads u
where u.unit_code = %(unit)s
  and (u.landed_path is null
       or not exists (select 1 from ingest.submissions s where s.drop_path = u.landed_path))
order by 5 desc
limit %(limit)s
"""


def history(conn: psycopg.Connection, unit_code: str, limit: int = 300) -> list[Entry]:
    entries = []
    for period, name, status, approval, received_at, reasons, row_counts, upload_id, submission_id in conn.execute(
            _HISTORY_SQL, {"unit": unit_code, "limit": limit}):
        state = approval if status == "accepted" and approval in ("awaiting_approval", "approved", "returned") \
            else status
        due = deadline(period, frozenset(row_counts or {})) if is_period(period) else None
        entries.append(Entry(period, name, state, received_at, due, reasons or [], row_counts or {}, upload_id,
                             submission_id))
    return entries


def night_findings(conn: psycopg.Connection, unit_code: str, submission_id: int):
    """The night's verdict on one of the unit's drops, rebuilt from the submission log for its report."""
    from halfsky.contract.rules import Finding
    from halfsky.ingest.judging.judge import Verdict

    row = conn.execute("select period, format, drop_name, row_counts from ingest.submissions "
                       "where submission_id = %s and prefecture_code = %s", (submission_id, unit_code)).fetchone()
    if row is None:
        return None
    period, fmt, drop_name, row_counts = row
    findings = [Finding(rule, form, row_number, field, value) for form, row_number, field, value, rule in conn.execute(
        "select form, row_number, field, value, rule from ingest.drop_findings where submission_id = %s "
        "order by form nulls first, row_number nulls first, field", (submission_id,))]
    return Verdict(unit_code, period, fmt, findings, logged_row_counts=row_counts or {}), drop_name
