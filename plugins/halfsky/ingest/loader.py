"""Load a judged drop into the warehouse, or reject it: raw COPY, supersede, quarantine, the findings log.

A drop is accepted whole (``accept``: its rows COPY'd into raw in the same transaction that marks it accepted,
older drops of its prefecture and period superseded, the history and cash-cap warnings judged with it in place)
or rejected whole (``reject``: nothing in raw; its bytes and report stored in quarantine first, then the
decision recorded). ``halfsky.ingest.runner`` decides which, drop by drop; ``halfsky.ingest.replay`` calls the
same two for a quarantined drop judged again.
"""

from __future__ import annotations

import io
import logging
from datetime import datetime
from pathlib import Path

import polars as pl
import psycopg
from psycopg.types.json import Jsonb

from halfsky.contract.forms import FORMS
from halfsky.contract.periods import is_month
from halfsky.contract.reference.code_lists import reference_data
from halfsky.contract.rules import Finding
from halfsky.ingest.drop_report import report_location, shown_value, write_report
from halfsky.ingest.judging.cash_cap import cap_crossings, revise_other_drops
from halfsky.ingest.judging.history_warnings import history_findings
from halfsky.ingest.judging.judge import Verdict
from halfsky.ingest.quarantine import quarantined_drop, store, store_report
from halfsky.ingest.stage_clock import stage
from halfsky.warehouse.partitions import ensure_raw_partitions
from halfsky.warehouse.period_reviews import PeriodClosed, closure, lock_unit_period

log = logging.getLogger(__name__)


def reasons_text(reasons: list[dict], errors: bool) -> str:
    """'code_list×1; type×3': the error (or the warning) rules of a verdict's reasons, as stored in ingest.submissions."""
    return "; ".join(f"{r['rule']}×{r['count']}" for r in reasons or [] if (r.get("severity") == "error") == errors)


def report_warnings(verdict: Verdict, drop_name: str, submission_id: int, target: str) -> str | None:
    """An accepted drop with warnings gets its report too, where a rejected one's would be (without the bytes):
    the prefecture sees what was loaded with a doubt. The drop is loaded already, so a store failure only logs.
    Returns the report's location, or None when it could not be stored."""
    try:
        store_report(lambda folder: write_report(folder, verdict, drop_name, submission_id), target)
    except Exception as exc:  # any store's error: the drop stays accepted
        log.error("submission %s accepted, but its warnings report could not be stored in %s: %s", submission_id, target, exc)
        return None
    return report_location(target)


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
        lock_unit_period(conn, verdict.prefecture_code, verdict.period)
        # Under the lock an approval takes too: a period approved while this drop was judged is closed now.
        if closed := closure(conn, verdict.prefecture_code, verdict.period):
            raise PeriodClosed(closed)
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
    log.debug("submission %s (%s) rejected: %s; report in %s", submission_id, drop_name,
              reasons_text(verdict.reasons(), errors=True), report_location(target))
