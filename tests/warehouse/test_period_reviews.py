"""Approval and period close in the warehouse (contract: "Approval and period close (v3)").

Hand-made funds drops of 阿拉善盟 (152900) through the real ingest into a warehouse of this module's own; the
province's events recorded with halfsky.warehouse.period_reviews, as the review tasks record them. What the
Airflow tasks add (the HITL answer, the reopen form) is tests/airflow/test_period_review.py's.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

import hostile_drops as hd
from ingest_helpers import AS_OF, ingest_all, verdicts_by_path

UNIT, COUNTY, PERIOD = "152900", "152921", "2023-03"
DECIDED = datetime.fromisoformat("2023-04-20T09:00:00+08:00")


def _drop(root, name: str, amount: str, minute: int, period: str = PERIOD) -> str:
    return hd.income_drop(root, UNIT, COUNTY, period, name, amount,
                          datetime.fromisoformat(f"2023-04-01T10:{minute:02d}:00+08:00"))


def _status(conn) -> str:
    from halfsky.warehouse.period_reviews import standing
    return standing(conn, UNIT, PERIOD).approval_status


@pytest.fixture(scope="module")
def site(fresh_database, dimensions_template, tmp_path_factory):
    with fresh_database("reviews", template=dimensions_template) as dsn:
        root = tmp_path_factory.mktemp("reviews") / "landing"
        yield {"dsn": dsn, "root": root, "quarantine": root.parent / "quarantine"}


def test_approve_closes_the_period_and_reopen_opens_it(site):
    from halfsky.warehouse.period_reviews import APPROVE, REOPEN, RETURN, ReviewRefused, history, record

    dsn, root = site["dsn"], site["root"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert _status(conn) == "not_submitted"
        with pytest.raises(ReviewRefused, match="no accepted drop"):
            record(conn, UNIT, PERIOD, APPROVE, actor="reviewer", decided_at=DECIDED)

        first = _drop(root, "first", "1000", 1)
        ingest_all(dsn, root, site["quarantine"], as_of=AS_OF)
        assert _status(conn) == "awaiting_approval"
        with pytest.raises(ReviewRefused, match="needs a comment"):
            record(conn, UNIT, PERIOD, RETURN, actor="reviewer", decided_at=DECIDED, comment="  ")
        with pytest.raises(ReviewRefused, match="not closed"):
            record(conn, UNIT, PERIOD, REOPEN, actor="reviewer", decided_at=DECIDED, comment="why not")
        record(conn, UNIT, PERIOD, RETURN, actor="reviewer", decided_at=DECIDED, comment="收入凭证号有误 wrong voucher")
        assert _status(conn) == "returned"

        second = _drop(root, "second", "1200", 2)
        ingest_all(dsn, root, site["quarantine"], as_of=AS_OF)
        assert verdicts_by_path(dsn, [second])[second] == ("accepted", [])
        assert _status(conn) == "awaiting_approval", "the unit's next accepted drop awaits approval again"
        (newest,) = conn.execute("select submission_id from ingest.submissions where drop_path = %s",
                                 (second,)).fetchone()
        (older,) = conn.execute("select submission_id from ingest.submissions where drop_path = %s",
                                (first,)).fetchone()
        with pytest.raises(ReviewRefused, match="replaced"):
            record(conn, UNIT, PERIOD, APPROVE, actor="reviewer", decided_at=DECIDED, submission_id=older)
        record(conn, UNIT, PERIOD, APPROVE, actor="reviewer", decided_at=DECIDED, submission_id=newest)
        assert _status(conn) == "approved"
        with pytest.raises(ReviewRefused, match="already approved"):
            record(conn, UNIT, PERIOD, APPROVE, actor="other reviewer", decided_at=DECIDED)

        raw_before = conn.execute("select submission_id, amount_yuan from raw.funds order by 1").fetchall()
        third = _drop(root, "third", "9999", 3)
        ingest_all(dsn, root, site["quarantine"], as_of=AS_OF)
        assert verdicts_by_path(dsn, [third])[third] == ("rejected", ["period_closed:"])
        assert conn.execute("select submission_id, amount_yuan from raw.funds order by 1").fetchall() == raw_before
        (quarantined,) = conn.execute("select quarantine_path from ingest.submissions where drop_path = %s",
                                      (third,)).fetchone()
        report = (Path(quarantined) / "report.html").read_text(encoding="utf-8")
        assert "approved by reviewer on 2023-04-20 09:00 (Asia/Shanghai); ask reviewer" in report
        assert "已由省妇联审核通过并关闭" in report, "the rule in Chinese beside the English"

        record(conn, UNIT, PERIOD, REOPEN, actor="reviewer", decided_at=DECIDED + timedelta(days=1),
               comment="县里补报了一笔收入 a late income")
        assert _status(conn) == "reopened"
        from halfsky.ingest.replay import replay
        (third_id,) = conn.execute("select submission_id from ingest.submissions where drop_path = %s",
                                   (third,)).fetchone()
        assert replay(dsn, third_id, as_of=AS_OF, actor="test") == "accepted"
        assert _status(conn) == "awaiting_approval"
        assert [event[0] for event in history(conn, UNIT, PERIOD)] == ["return", "approve", "reopen"]


def test_a_replay_into_a_closed_period_is_rejected_period_closed(site):
    from halfsky.ingest.replay import replay
    from halfsky.warehouse.period_reviews import APPROVE, record

    dsn, root = site["dsn"], site["root"]
    period = "2023-05"
    broken = _drop(root, "broken", "-5", 4, period=period)  # min_value: rejected, kept in quarantine
    good = _drop(root, "good", "10", 5, period=period)
    ingest_all(dsn, root, site["quarantine"], as_of=AS_OF)
    with psycopg.connect(dsn, autocommit=True) as conn:
        record(conn, UNIT, period, APPROVE, actor="reviewer", decided_at=DECIDED)
        (broken_id,) = conn.execute("select submission_id from ingest.submissions where drop_path = %s",
                                    (broken,)).fetchone()
    assert verdicts_by_path(dsn, [good])[good] == ("accepted", [])
    assert replay(dsn, broken_id, as_of=AS_OF, actor="test") == "rejected"
    assert verdicts_by_path(dsn, [broken])[broken] == ("rejected", ["period_closed:"])


def test_validate_refuses_a_closed_period_when_it_sees_the_warehouse(site, tmp_path):
    from halfsky.warehouse.period_reviews import APPROVE, record

    dsn = site["dsn"]
    period = "2023-06"
    root = tmp_path / "landing"
    rel = _drop(root, "checked", "10", 6, period=period)
    ingest_all(dsn, root, tmp_path / "quarantine", as_of=AS_OF)
    with psycopg.connect(dsn, autocommit=True) as conn:
        record(conn, UNIT, period, APPROVE, actor="审核员 reviewer", decided_at=DECIDED)
    again = _drop(root, "again", "11", 7, period=period)
    command = [sys.executable, "-m", "halfsky.validate", str(root / again), "--as-of", "2023-07-01T00:00:00+08:00"]
    blind = subprocess.run(command, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert blind.returncode == 0, blind.stdout + blind.stderr  # the file alone is fine
    seeing = subprocess.run([*command, "--warehouse", dsn], capture_output=True, text=True)
    assert seeing.returncode == 1 and "period_closed" in seeing.stdout and "审核员 reviewer" in seeing.stdout, \
        seeing.stdout + seeing.stderr
    assert rel


def test_concurrent_approvals_record_one_and_refuse_the_other(site):
    from halfsky.warehouse.period_reviews import APPROVE, ReviewRefused, history, record

    dsn, root = site["dsn"], site["root"]
    period = "2023-07"
    _drop(root, "raced", "10", 8, period=period)
    ingest_all(dsn, root, site["quarantine"], as_of=AS_OF)
    outcomes, start = [], threading.Barrier(4)

    def approve(who: str) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            start.wait()
            try:
                outcomes.append(record(conn, UNIT, period, APPROVE, actor=who, decided_at=DECIDED))
            except ReviewRefused as refused:
                outcomes.append(str(refused))

    threads = [threading.Thread(target=approve, args=(f"reviewer {i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(isinstance(o, int) for o in outcomes) == 1, outcomes
    assert sum("already approved" in str(o) for o in outcomes) == 3, outcomes
    with psycopg.connect(dsn) as conn:
        assert [event[0] for event in history(conn, UNIT, period)] == ["approve"]


def test_no_role_edits_or_deletes_the_record(site):
    dsn = site["dsn"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("select count(*) from audit.period_reviews").fetchone()[0] >= 3
        for statement in ("update audit.period_reviews set comment = 'edited'",
                          "delete from audit.period_reviews",
                          "truncate audit.period_reviews"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)  # the owner, who holds every privilege, is refused by the triggers
        for role in ("halfsky_loader", "halfsky_transformer"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with conn.transaction():
                    conn.execute(f"set local role {role}")
                    conn.execute("update audit.period_reviews set comment = 'edited'")


def test_a_period_past_close_after_days_closes_by_itself(site):
    from halfsky.orchestration.period_review import close_overdue_periods
    from halfsky.warehouse.period_reviews import standing

    dsn, root = site["dsn"], site["root"]
    period = "2023-08"  # due 2023-09-10
    _drop(root, "overdue", "10", 9, period=period)
    ingest_all(dsn, root, site["quarantine"], as_of=AS_OF)
    assert close_overdue_periods(as_of=datetime.fromisoformat("2023-09-30T00:00:00+08:00"), days=None, dsn=dsn) == []
    # Not yet 30 days after August's deadline (2023-09-10); then past it. (Earlier months the other tests left
    # open may close too: they are long overdue.)
    early = close_overdue_periods(as_of=datetime.fromisoformat("2023-09-30T00:00:00+08:00"), days=30, dsn=dsn)
    assert f"{UNIT} {period}" not in early
    closed = close_overdue_periods(as_of=datetime.fromisoformat("2023-10-11T00:00:00+08:00"), days=30, dsn=dsn)
    assert closed == [f"{UNIT} {period}"]
    with psycopg.connect(dsn) as conn:
        now = standing(conn, UNIT, period)
    assert now.approval_status == "approved" and now.last_action == "auto_close"
    assert "closed by itself" in now.closed_finding().detail
