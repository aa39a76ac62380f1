"""Run a night's batch of drops: what is due, and each drop registered, judged and decided.

``pending_work`` lists the drops due this run (arrived by the end of its data interval, not decided yet) in
batches by reporting unit. ``process_prefecture`` takes a batch oldest name first: each drop is registered in
the submission log once (``register``: identical bytes under another name are a duplicate), judged, and handed
to ``halfsky.ingest.loader`` to be accepted into raw or rejected to quarantine. Each prefecture's drops are
processed on their own, so one prefecture's bad file never holds up another's.

A drop is decided while holding a lock on its prefecture and period (``claimed``), so two runs at once decide it
once. A lost or restarting warehouse is waited for (``RECONNECT_DELAYS``) and the drop tried again from the
start; a store or warehouse that stays away leaves the drop pending for the next run (``DropsLeftPending``).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from halfsky.contract.reference.code_lists import reference_data
from halfsky.contract.rules import Finding
from halfsky.contract.untrusted_text import mask_id_numbers_in, printable_name
from halfsky.ingest import stage_clock
from halfsky.ingest.batches import batch_by_unit
from halfsky.ingest.drop_report import report_location
from halfsky.ingest.judging.judge import Verdict, judge_drop, path_findings
from halfsky.ingest.loader import accept, reasons_text, reject, report_warnings
from halfsky.ingest.quarantine import quarantine_dir
from halfsky.ingest.reading.landing import Drop, Landing
from halfsky.warehouse.audit import command_line_actor, declare_actor
from halfsky.warehouse.period_reviews import PeriodClosed, closure, lock_unit_period
from halfsky.warehouse.roles import LOADER, assume

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DropVerdict:
    """What became of one drop this run: the line an admin reads in the task log, and the night's digest."""

    path: str
    status: str  # accepted, rejected, duplicate or superseded
    submission_id: int
    is_late: bool = False
    reasons: str = ""  # rule×count, errors for a rejected drop, warnings for an accepted one
    report: str | None = None  # report.html of a rejected drop, or of an accepted one with warnings

    def line(self) -> str:
        mark = {"accepted": "ACCEPTED", "superseded": "ACCEPTED", "rejected": "REJECTED"}.get(self.status, self.status.upper())
        parts = [f"{mark:<10}{mask_id_numbers_in(printable_name(self.path))}", f"submission {self.submission_id}"]
        if self.status == "superseded":
            parts.append("superseded by a newer drop of the period")
        if self.is_late:
            parts.append("LATE")
        if self.reasons:
            parts.append(self.reasons)
        if self.report:
            parts.append(f"report: {self.report}")
        return " | ".join(parts)

    def as_dict(self) -> dict:
        """For an XCom and the digest's callers: the path's id numbers masked (the grid and the UI show it)."""
        return {**asdict(self), "path": mask_id_numbers_in(printable_name(self.path))}


class DropsLeftPending(RuntimeError):
    """The store or the warehouse failed (not the drop): those drops stay pending and the next run decides them."""


def pending_work(dsn: str, landing_url: str, as_of: datetime, *, only_unit: str | None = None,
                 only_period: str | None = None) -> tuple[list[dict], dict]:
    """Drops to process this run, in batches by reporting unit, and what was skipped.

    A drop is due when it arrived by the end of the run's data interval and the
    submission log has not decided it yet (new, or left pending by a crash).
    ``only_unit``/``only_period`` keep the drops of one reporting unit and/or period.
    """
    landing = Landing(landing_url)
    with _connect_waiting(dsn) as conn:  # a warehouse restarting while the night starts is waited for
        decided = {r[0] for r in conn.execute("select drop_path from ingest.submissions where status <> 'pending'")}
    due: list[str] = []
    sizes: dict[str, int] = {}  # from the listing: no second look at the store per drop
    skipped = Counter()
    for drop in landing.list_drops(known=frozenset(decided)):
        path = drop if isinstance(drop, str) else drop.path
        unit, period = (path.split("/") + ["", ""])[:2]
        if (only_unit and unit != only_unit) or (only_period and period != only_period):
            skipped["outside_the_requested_unit_or_period"] += 1
        elif isinstance(drop, str):
            skipped["already_processed"] += 1
        elif drop.received_at > as_of:
            skipped["arrived_after_interval"] += 1
        else:
            due.append(drop.path)
            sizes[drop.path] = drop.size
    work = batch_by_unit(due, reference_data().units, sizes=sizes)
    log.info("%d drops due in %d batches; skipped %s", len(due), len(work), dict(skipped))
    return work, dict(skipped)


def _drop_order(path: str) -> tuple[str, str, str]:
    unit, period, name = path.split("/")
    return unit, period, name


def process_prefecture(dsn: str, landing_url: str, quarantine_url: str, paths: list[str], *, as_of: datetime,
                       run_id: str | None = None,
                       on_verdict: Callable[[DropVerdict], None] | None = None) -> dict[str, int]:
    """Judge and load a batch's due drops, oldest name first; returns counts by outcome.

    Each drop is decided on its own: a drop that cannot be read or judged is rejected
    (``internal_error`` at worst) and the next one goes on. A lost or restarted warehouse is
    waited for (``RECONNECT_DELAYS``) and the drop tried again from the start; a failure of the
    store, or a warehouse that stays away, leaves the drop pending and the batch fails after
    the others. A drop another run has decided since this run listed it is left as it is
    (``elsewhere``; see ``claimed``). Every decision is one log line (``DropVerdict.line``) and is
    handed to ``on_verdict``.
    """
    landing = Landing(landing_url)
    outcome: Counter = Counter()
    stuck: list[str] = []
    stage_clock.reset()
    with tempfile.TemporaryDirectory(prefix="halfsky-drop-") as scratch:
        conn = _connect_waiting(dsn, run_id)
        try:
            ordered = sorted(paths, key=_drop_order)
            for index, rel in enumerate(ordered):
                try:
                    verdict, conn = _decide_retrying(conn, dsn, landing, quarantine_url, rel, Path(scratch), as_of, run_id)
                except WarehouseGone:  # waited the whole schedule once: the others would only wait again
                    stuck += ordered[index:]
                    break
                if verdict is None:
                    stuck.append(rel)
                    continue
                if verdict.status == ELSEWHERE:
                    log.info("%s: decided by another run meanwhile; left as it is", printable_name(rel))
                    outcome[ELSEWHERE] += 1
                    continue
                outcome[verdict.status] += 1
                (log.warning if verdict.status == "rejected" else log.info)("%s", verdict.line())
                if on_verdict:
                    on_verdict(verdict)
        finally:
            conn.close()
    log.info("batch of %d drops: %s; time by stage: %s", len(paths), dict(outcome), stage_clock.summary() or "none")
    if stuck:
        shown = [mask_id_numbers_in(printable_name(p)) for p in stuck[:5]]  # Airflow logs the message itself
        raise DropsLeftPending(f"{len(stuck)} drop(s) stay pending for the next run ({', '.join(shown)}"
                               f"{', …' if len(stuck) > 5 else ''}); the rest: {dict(outcome)}")
    return dict(outcome)


# Errors that say the warehouse is unwell, not the drop: waited for and retried, never blamed on the drop.
# (An admin shutdown or a restart is an OperationalError; a deadlock or serialization failure rolls back cleanly.)
_INFRASTRUCTURE_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, psycopg.errors.TransactionRollback)
# Seconds to wait before each new attempt at a drop whose decision the warehouse interrupted: a restart
# takes seconds, a failover under a minute. After the last, the drop stays pending for the next run.
RECONNECT_DELAYS = (1.0, 3.0, 10.0, 30.0)
# The outcome of a drop another run decided after this run listed it: this run leaves it alone.
ELSEWHERE = "elsewhere"


def loader_connection(dsn: str, run_id: str | None = None) -> psycopg.Connection:
    """A session as the loader role (halfsky.warehouse.roles), autocommit so each ``transaction()`` block is
    its own transaction, naming the run (or the person) for the audit log."""
    conn = psycopg.connect(dsn, autocommit=True)
    assume(conn, LOADER)
    declare_actor(conn, f"airflow run {run_id}" if run_id else command_line_actor())
    return conn


class WarehouseGone(RuntimeError):
    """The warehouse stayed away through every retry of one drop."""


def _connect_waiting(dsn: str, run_id: str | None = None) -> psycopg.Connection:
    for delay in (*RECONNECT_DELAYS, None):
        try:
            return loader_connection(dsn, run_id)
        except psycopg.OperationalError as exc:
            if delay is None:
                raise DropsLeftPending(f"the warehouse cannot be reached after {len(RECONNECT_DELAYS) + 1} attempts; "
                                       f"nothing was decided, every drop stays pending: {exc}") from exc
            log.warning("the warehouse cannot be reached (%s); trying again in %.0f s", str(exc).strip(), delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def _decide_retrying(conn: psycopg.Connection, dsn: str, landing: Landing, quarantine_url: str, rel: str,
                     scratch: Path, as_of: datetime, run_id: str | None) -> tuple[DropVerdict | None, psycopg.Connection]:
    """One drop's decision, tried again on a fresh connection while the warehouse is the trouble.

    Returns (None, conn) when the drop stays pending. Every attempt starts over: what an interrupted
    attempt wrote was rolled back with its transaction, and accept() clears the submission's raw rows first.
    """
    for delay in (*RECONNECT_DELAYS, None):
        try:
            if conn.closed or conn.broken:
                conn = loader_connection(dsn, run_id)
            with claimed(conn, rel):
                return process_drop(conn, landing, quarantine_url, rel, scratch, as_of, run_id), conn
        except _INFRASTRUCTURE_ERRORS as exc:
            if delay is None:
                log.error("%s: the warehouse failed %d times; it and the rest of the batch stay pending for the next run: %s",
                          printable_name(rel), len(RECONNECT_DELAYS) + 1, exc)
                raise WarehouseGone(str(exc)) from exc
            log.warning("%s: the warehouse failed (%s); trying the drop again in %.0f s",
                        printable_name(rel), str(exc).strip(), delay)
            _discard(conn)
            time.sleep(delay)
        except Exception as exc:  # the store (quarantine, landing) failed, not the drop: never blamed on it
            log.exception("%s: could not be decided, stays pending for the next run: %s", printable_name(rel), exc)
            if conn.broken:
                _discard(conn)
            return None, conn
    raise AssertionError("unreachable")


def _discard(conn: psycopg.Connection) -> None:
    try:
        conn.close()
    except Exception:  # already gone
        pass


@contextmanager
def claimed(conn: psycopg.Connection, rel: str) -> Iterator[None]:
    """Decide the drop while holding a session advisory lock on its prefecture and period.

    Two runs started at once on one landing tree list the same drops. The lock makes the second wait
    while the first decides a drop of the same period, then find it decided (``register`` says
    ELSEWHERE); and a copy of a drop still being judged waits for it, so it is found a duplicate,
    exactly as in a single run. Postgres drops the lock with the session if the run dies.
    """
    key = (_CLAIM_SPACE, _path_hash("/".join(rel.split("/")[:2])))
    if not conn.execute("select pg_try_advisory_lock(%s, %s)", key).fetchone()[0]:
        log.info("%s: another run is deciding a drop of this prefecture and period; waiting for it", printable_name(rel))
        conn.execute("select pg_advisory_lock(%s, %s)", key)
    try:
        yield
    finally:
        if not (conn.closed or conn.broken):
            conn.execute("select pg_advisory_unlock(%s, %s)", key)


# The two-key advisory lock space, apart from the one-key locks taken per prefecture and period.
_CLAIM_SPACE = 0x68736B79  # "hsky"


def _path_hash(rel: str) -> int:
    return int.from_bytes(hashlib.blake2b(rel.encode("utf-8", "surrogateescape"), digest_size=4).digest(), "big", signed=True)


def process_drop(conn: psycopg.Connection, landing: Landing, quarantine_url: str, rel: str, scratch: Path,
                 as_of: datetime, run_id: str | None) -> DropVerdict:
    """Register, judge, then load or quarantine one drop; returns what became of it."""
    drop = landing.get(rel)
    submission_id, status = register(conn, landing, drop, as_of, run_id)
    if status in ("duplicate", ELSEWHERE):
        return DropVerdict(drop.path, status, submission_id)
    local = landing.local_copy(drop, scratch) if drop.quarantinable else None
    findings = path_findings(drop.prefecture_code, drop.period, as_of, reference_data())
    if not (drop.problem or findings) and (closed := closure(conn, drop.prefecture_code, drop.period)):
        findings = [closed.closed_finding()]  # the province signed the period off: nothing more is read for it
    if drop.problem or findings:  # judged by its place and entry alone, never parsed
        finding = findings[0] if findings else Finding(drop.problem, value=drop.path, detail=drop.detail)
        verdict = Verdict.rejected(drop.prefecture_code, drop.period, finding)
    else:
        verdict = judge_drop(local, drop.prefecture_code, drop.period, received_at=drop.received_at, as_of=as_of)
    if verdict.accepted:
        try:
            status = accept(conn, submission_id, verdict, as_of)
        except _INFRASTRUCTURE_ERRORS:
            raise
        except PeriodClosed as closed:  # approved while the drop was being judged
            verdict = Verdict.rejected(drop.prefecture_code, drop.period, closed.standing.closed_finding())
        except Exception as exc:  # the rows would not load (a bug, or a value no rule foresaw): nothing of it stays
            log.exception("%s: loading failed; rejected as internal_error", drop.path)
            verdict = Verdict.internal_error(drop.prefecture_code, drop.period, exc)
        else:
            report = None
            if verdict.warnings:
                report = report_warnings(verdict, drop.name, submission_id,
                                         quarantine_dir(quarantine_url, drop.prefecture_code, drop.period, submission_id))
            return DropVerdict(drop.path, status, submission_id, verdict.is_late,
                               reasons_text(verdict.reasons(), errors=False), report)
    target = quarantine_dir(quarantine_url, drop.prefecture_code, drop.period, submission_id)
    reject(conn, submission_id, verdict, drop.name, target, as_of, drop_bytes=local)
    return DropVerdict(drop.path, "rejected", submission_id, verdict.is_late, reasons_text(verdict.reasons(), errors=True),
                       report_location(target))


def register(conn: psycopg.Connection, landing: Landing, drop: Drop, as_of: datetime, run_id: str | None) -> tuple[int, str]:
    """Log the drop once; identical bytes under another name in the same prefecture and period
    are a duplicate of the first (the contract's meaning: the same report sent again).
    Returns (submission_id, status): 'pending' to judge it, 'duplicate', or ELSEWHERE when it is decided already."""
    sha = landing.sha256(drop)
    with conn.transaction():
        lock_unit_period(conn, drop.prefecture_code, drop.period)
        row = conn.execute("select submission_id, status from ingest.submissions where drop_path = %s", (drop.path,)).fetchone()
        if row and row[1] != "pending":  # another run decided it after this one listed it
            return row[0], ELSEWHERE
        if row:  # left pending by an interrupted run: this run judges it again, as the bytes now are
            conn.execute("""update ingest.submissions set run_id = %s, sha256 = %s, size_bytes = %s, received_at = %s
                            where submission_id = %s""", (run_id, sha, drop.size, drop.received_at, row[0]))
            return row
        original = None if sha is None else conn.execute(
            """select submission_id from ingest.submissions
               where prefecture_code = %s and period = %s and sha256 = %s and status <> 'pending'
               order by submission_id limit 1""", (drop.prefecture_code, drop.period, sha)).fetchone()
        status = "duplicate" if original else "pending"
        fmt = "csv" if drop.is_dir else (Path(drop.name).suffix.lstrip(".").lower() or "unknown")
        submission_id = conn.execute(
            """insert into ingest.submissions
               (prefecture_code, period, drop_name, drop_path, format, sha256, size_bytes, received_at, first_seen_at,
                status, duplicate_of, decided_at, run_id)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning submission_id""",
            (drop.prefecture_code, drop.period, drop.name, drop.path, fmt, sha, drop.size, drop.received_at, as_of,
             status, original[0] if original else None, as_of if original else None, run_id),
        ).fetchone()[0]
    if original:
        log.debug("%s: duplicate of submission %s, nothing changes", drop.path, original[0])
    return submission_id, status
