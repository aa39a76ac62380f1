"""Register, judge and load drops: the submission log, raw COPY, quarantine.

A drop is accepted whole (its rows COPY'd into raw in the same transaction
that marks it accepted) or rejected whole (nothing in raw; its bytes copied to
quarantine with a report). Each prefecture's drops are processed on their own,
so one prefecture's bad file never holds up another's.
"""

from __future__ import annotations

import hashlib
import io
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import polars as pl
import psycopg
from psycopg.types.json import Jsonb

from halfsky.ingest import stage_clock
from halfsky.warehouse.audit import command_line_actor, declare_actor
from halfsky.ingest.judging.cash_cap import cap_crossings, revise_other_drops
from halfsky.ingest.drop_report import shown_value, write_report
from halfsky.contract.forms import FORMS
from halfsky.ingest.judging.history_warnings import history_findings
from halfsky.ingest.batches import batch_by_unit
from halfsky.ingest.judging.judge import Verdict, judge_drop, path_findings
from halfsky.ingest.reading.landing import Drop, Landing
from halfsky.warehouse.partitions import ensure_raw_partitions
from halfsky.contract.periods import is_month
from halfsky.ingest.quarantine import quarantine_dir, quarantined_drop, store, store_report
from halfsky.contract.reference.code_lists import reference_data
from halfsky.contract.rules import Finding
from halfsky.ingest.stage_clock import stage
from halfsky.contract.untrusted_text import mask_id_numbers_in, printable_name
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


def reasons_text(reasons: list[dict], errors: bool) -> str:
    """'code_list×1; type×3': the error (or the warning) rules of a verdict's reasons, as stored in ingest.submissions."""
    return "; ".join(f"{r['rule']}×{r['count']}" for r in reasons or [] if (r.get("severity") == "error") == errors)


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
                       f"{target}/report.html")


def report_warnings(verdict: Verdict, drop_name: str, submission_id: int, target: str) -> str | None:
    """An accepted drop with warnings gets its report too, where a rejected one's would be (without the bytes):
    the prefecture sees what was loaded with a doubt. The drop is loaded already, so a store failure only logs.
    Returns the report's location, or None when it could not be stored."""
    try:
        store_report(lambda folder: write_report(folder, verdict, drop_name, submission_id), target)
    except Exception as exc:  # any store's error: the drop stays accepted
        log.error("submission %s accepted, but its warnings report could not be stored in %s: %s", submission_id, target, exc)
        return None
    return f"{target}/report.html"


def register(conn: psycopg.Connection, landing: Landing, drop: Drop, as_of: datetime, run_id: str | None) -> tuple[int, str]:
    """Log the drop once; identical bytes under another name in the same prefecture and period
    are a duplicate of the first (the contract's meaning: the same report sent again).
    Returns (submission_id, status): 'pending' to judge it, 'duplicate', or ELSEWHERE when it is decided already."""
    sha = landing.sha256(drop)
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"{drop.prefecture_code}/{drop.period}",))
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


# A form this large changes raw's statistics enough to mislead the history warnings' plans (see accept).
ANALYZE_AFTER_ROWS = 50_000
# COPY is fed in slices of this many bytes, so a 1M-row form is not held twice as one Python bytes object.
COPY_CHUNK_BYTES = 8 << 20


def _copy_rows(conn: psycopg.Connection, submission_id: int, verdict: Verdict) -> None:
    """Each form's typed columns as CSV straight into COPY: polars writes the text, Postgres parses it."""
    for name, typed in verdict.forms.items():
        fields = FORMS[name].field_names
        columns = ", ".join(["submission_id", "row_number", "period", *fields])
        rows = typed.table.select(pl.lit(submission_id, dtype=pl.Int64).alias("submission_id"), "row_number",
                                  pl.lit(verdict.period, dtype=pl.String).alias("period"), *fields)
        chunk = _rows_per_chunk(rows)
        with conn.cursor().copy(f"copy raw.{name} ({columns}) from stdin with (format csv)") as copy:
            for start in range(0, rows.height, chunk):
                buffer = io.BytesIO()
                # Strings quoted, nulls bare: COPY's csv format reads a bare empty field as NULL, "" as ''.
                rows.slice(start, chunk).write_csv(buffer, include_header=False, quote_style="non_numeric")
                copy.write(buffer.getbuffer())


def _rows_per_chunk(rows: pl.DataFrame) -> int:
    width = max(rows.estimated_size() // max(rows.height, 1), 1)
    return max(COPY_CHUNK_BYTES // width, 1000)


def _store_findings(conn: psycopg.Connection, submission_id: int, findings: list[Finding]) -> None:
    """Each finding's value as the report shows it (an id number by its last 4 characters): the log outlives
    the retention of raw, so it keeps no whole id number."""
    conn.execute("delete from ingest.drop_findings where submission_id = %s", (submission_id,))
    with conn.cursor().copy(
        "copy ingest.drop_findings (submission_id, form, row_number, field, value, rule, severity) from stdin"
    ) as copy:
        for f in findings:
            copy.write_row((submission_id, f.form, f.row_number, f.field, shown_value(f), f.rule, f.severity))


def accept(conn: psycopg.Connection, submission_id: int, verdict: Verdict, as_of: datetime) -> str:
    """Load the rows and mark the drop accepted in one transaction; older drops of the period are superseded.

    Returns the drop's final status: 'accepted', or 'superseded' when a newer
    drop of the same prefecture and period was already accepted (a late replay).
    """
    ensure_raw_partitions(conn, verdict.forms, verdict.period)
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"{verdict.prefecture_code}/{verdict.period}",))
        for name in FORMS:  # a replay or a retry after a crash starts from nothing
            conn.execute(f"delete from raw.{name} where submission_id = %s", (submission_id,))
        with stage("load"):
            _copy_rows(conn, submission_id, verdict)
        with stage("analyze"):
            # The history warnings below plan their joins from table statistics: after a large drop,
            # statistics that predate it send them down nested loops over the whole drop.
            for name, typed in verdict.forms.items():
                if len(typed) >= ANALYZE_AFTER_ROWS:
                    conn.execute(f"analyze raw.{name}")
        conn.execute(
            """update ingest.submissions set status = 'accepted', is_late = %s, decided_at = %s, accepted_at = %s,
                      quarantine_path = null
               where submission_id = %s""",
            (verdict.is_late, as_of, as_of, submission_id),
        )
        # Newest by (first seen, then name) wins; everything else accepted for the period steps aside. Each step is
        # one index look-up that touches only the rows that change: a flood of drops for one period stays linear.
        period_key = {"unit": verdict.prefecture_code, "period": verdict.period}
        newest = conn.execute(
            """select submission_id from ingest.submissions
               where prefecture_code = %(unit)s and period = %(period)s and status in ('accepted', 'superseded')
               order by first_seen_at desc, drop_name desc limit 1""", period_key).fetchone()[0]
        replaced = [r[0] for r in conn.execute(
            """update ingest.submissions set status = 'superseded'
               where prefecture_code = %(unit)s and period = %(period)s and status = 'accepted'
                 and submission_id <> %(newest)s returning submission_id""", {**period_key, "newest": newest})]
        conn.execute("update ingest.submissions set status = 'accepted' where submission_id = %s and status <> 'accepted'",
                     (newest,))
        status = "accepted" if newest == submission_id else "superseded"
        crossings = None
        if status == "accepted":  # judged against the history as it now stands, this drop in it
            with stage("history"):
                verdict.findings += history_findings(conn, submission_id, verdict)
                if is_month(verdict.period):  # last: it waits for other drops' cap decisions (cash_cap._CAP_LOCK)
                    crossings = cap_crossings(conn, submission_id, replaced, reference_data())
                    verdict.findings += crossings.findings_of(submission_id)
        with stage("findings"):
            _store_findings(conn, submission_id, verdict.findings)
            if crossings is not None:  # the warning may move onto, or off, another drop's payment
                revise_other_drops(conn, crossings, submission_id)
        conn.execute("update ingest.submissions set reasons = %s, row_counts = %s, notes = %s where submission_id = %s",
                     (Jsonb(verdict.reasons()), Jsonb(verdict.row_counts()), verdict.notes, submission_id))
    log.debug("submission %s accepted (%s): %s", submission_id, status, verdict.row_counts())
    return status


def reject(conn: psycopg.Connection, submission_id: int, verdict: Verdict, drop_name: str, target: str,
           as_of: datetime, drop_bytes: Path | None) -> None:
    """Quarantine the bytes and the report first, then record the decision: a crash in between leaves it pending.

    ``drop_bytes`` is None when the drop is already in ``target`` (a replay that fails again) or
    must not be read (a link or device, or over the size limit: the report says so).
    """
    with stage("quarantine"):
        if drop_bytes is not None:
            store(drop_bytes, quarantined_drop(target, drop_name))
        store_report(lambda folder: write_report(folder, verdict, drop_name, submission_id), target)
    with conn.transaction():
        _store_findings(conn, submission_id, verdict.findings)
        conn.execute(
            """update ingest.submissions set status = 'rejected', reasons = %s, row_counts = %s, is_late = %s,
                      decided_at = %s, quarantine_path = %s, notes = %s
               where submission_id = %s""",
            (Jsonb(verdict.reasons()), Jsonb(verdict.row_counts()), verdict.is_late, as_of, target, verdict.notes,
             submission_id),
        )
    log.debug("submission %s (%s) rejected: %s; report in %s/report.html", submission_id, drop_name,
              reasons_text(verdict.reasons(), errors=True), target)
