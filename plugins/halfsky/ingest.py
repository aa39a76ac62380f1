"""Register, judge and load drops: the submission log, raw COPY, quarantine.

A drop is accepted whole (its rows COPY'd into raw in the same transaction
that marks it accepted) or rejected whole (nothing in raw; its bytes copied to
quarantine with a report). Each prefecture's drops are processed on their own,
so one prefecture's bad file never holds up another's.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from halfsky.drop_report import write_report
from halfsky.forms import FORMS
from halfsky.judge import Verdict, judge_drop
from halfsky.landing import Drop, Landing, copy_tree
from halfsky.rules import Finding

log = logging.getLogger(__name__)


def pending_work(dsn: str, landing_url: str, as_of: datetime) -> tuple[list[dict], dict]:
    """Drops to process this run, grouped by prefecture folder, and what was skipped.

    A drop is due when it arrived by the end of the run's data interval and the
    submission log has not decided it yet (new, or left pending by a crash).
    """
    landing = Landing(landing_url)
    with psycopg.connect(dsn) as conn:
        decided = {r[0] for r in conn.execute("select drop_path from ingest.submissions where status <> 'pending'")}
    groups: dict[str, list[str]] = defaultdict(list)
    skipped = Counter()
    for drop in landing.list_drops(known=frozenset(decided)):
        if isinstance(drop, str):
            skipped["already_processed"] += 1
        elif drop.received_at > as_of:
            skipped["arrived_after_interval"] += 1
        else:
            groups[drop.prefecture_code].append(drop.path)
    work = [{"prefecture_code": p, "paths": paths} for p, paths in sorted(groups.items())]
    log.info("%d drops due from %d prefecture folders; skipped %s", sum(len(w["paths"]) for w in work), len(work), dict(skipped))
    return work, dict(skipped)


def process_prefecture(dsn: str, landing_url: str, quarantine_url: str, paths: list[str], *, as_of: datetime,
                       run_id: str | None = None) -> dict[str, int]:
    """Judge and load one prefecture's due drops, oldest name first; returns counts by outcome."""
    landing = Landing(landing_url)
    outcome = Counter()
    with psycopg.connect(dsn) as conn, tempfile.TemporaryDirectory(prefix="halfsky-drop-") as scratch:
        for rel in sorted(paths, key=lambda p: p.split("/")[-1]):
            drop = landing.get(rel)
            submission_id, status = register(conn, landing, drop, as_of, run_id)
            if status == "duplicate":
                outcome["duplicate"] += 1
                continue
            local = landing.local_copy(drop, Path(scratch))
            verdict = judge_drop(local, drop.prefecture_code, drop.period, received_at=drop.received_at, as_of=as_of)
            if verdict.accepted:
                outcome[accept(conn, submission_id, verdict, as_of)] += 1
            else:
                reject(conn, submission_id, verdict, drop.name, quarantine_dir(quarantine_url, drop, submission_id), as_of,
                       drop_bytes=local)
                outcome["rejected"] += 1
    return dict(outcome)


def register(conn: psycopg.Connection, landing: Landing, drop: Drop, as_of: datetime, run_id: str | None) -> tuple[int, str]:
    """Log the drop once; identical bytes under another name are a duplicate of the first."""
    sha = landing.sha256(drop)
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (sha,))
        row = conn.execute("select submission_id, status from ingest.submissions where drop_path = %s", (drop.path,)).fetchone()
        if row:  # left pending by an interrupted run: this run judges it again
            conn.execute("update ingest.submissions set run_id = %s where submission_id = %s", (run_id, row[0]))
            return row
        original = conn.execute(
            "select submission_id from ingest.submissions where sha256 = %s and status <> 'pending' order by submission_id limit 1",
            (sha,)).fetchone()
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
        log.info("%s: duplicate of submission %s, nothing changes", drop.path, original[0])
    return submission_id, status


def _copy_rows(conn: psycopg.Connection, submission_id: int, verdict: Verdict) -> None:
    for name, typed in verdict.forms.items():
        columns = ", ".join(["submission_id", "row_number", *FORMS[name].field_names])
        with conn.cursor().copy(f"copy raw.{name} ({columns}) from stdin") as copy:
            for row in typed.load_rows():
                copy.write_row((submission_id, *row))


def _store_findings(conn: psycopg.Connection, submission_id: int, findings: list[Finding]) -> None:
    conn.execute("delete from ingest.drop_findings where submission_id = %s", (submission_id,))
    with conn.cursor().copy(
        "copy ingest.drop_findings (submission_id, form, row_number, field, value, rule, severity) from stdin"
    ) as copy:
        for f in findings:
            copy.write_row((submission_id, f.form, f.row_number, f.field, f.value, f.rule, f.severity))


def accept(conn: psycopg.Connection, submission_id: int, verdict: Verdict, as_of: datetime) -> str:
    """Load the rows and mark the drop accepted in one transaction; older drops of the period are superseded.

    Returns the drop's final status: 'accepted', or 'superseded' when a newer
    drop of the same prefecture and period was already accepted (a late replay).
    """
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"{verdict.prefecture_code}/{verdict.period}",))
        for name in FORMS:  # a replay or a retry after a crash starts from nothing
            conn.execute(f"delete from raw.{name} where submission_id = %s", (submission_id,))
        _copy_rows(conn, submission_id, verdict)
        _store_findings(conn, submission_id, verdict.findings)
        conn.execute(
            """update ingest.submissions set status = 'accepted', reasons = %s, row_counts = %s, is_late = %s,
                      decided_at = %s, accepted_at = %s, quarantine_path = null
               where submission_id = %s""",
            (Jsonb(verdict.reasons()), Jsonb(verdict.row_counts()), verdict.is_late, as_of, as_of, submission_id),
        )
        # Newest by (first seen, then name) wins; everything else accepted for the period steps aside.
        conn.execute(
            """with ranked as (
                   select submission_id, row_number() over (order by first_seen_at desc, drop_name desc) as rank
                   from ingest.submissions
                   where prefecture_code = %s and period = %s and status in ('accepted', 'superseded'))
               update ingest.submissions s
                  set status = case when ranked.rank = 1 then 'accepted' else 'superseded' end
                 from ranked where ranked.submission_id = s.submission_id""",
            (verdict.prefecture_code, verdict.period),
        )
        status = conn.execute("select status from ingest.submissions where submission_id = %s", (submission_id,)).fetchone()[0]
    log.info("submission %s accepted (%s): %s", submission_id, status, verdict.row_counts())
    return status


def quarantine_dir(quarantine_url: str, drop: Drop, submission_id: int) -> str:
    return f"{quarantine_url.rstrip('/')}/{drop.prefecture_code}/{drop.period}/{submission_id}"


def reject(conn: psycopg.Connection, submission_id: int, verdict: Verdict, drop_name: str, target: str,
           as_of: datetime, drop_bytes: Path | None) -> None:
    """Quarantine the bytes and the report first, then record the decision: a crash in between leaves it pending.

    ``drop_bytes`` is None when the drop is already in ``target`` (a replay that fails again).
    """
    if drop_bytes is not None and drop_bytes.exists():
        copy_tree(drop_bytes, f"{target}/drop/{drop_name}")
    with tempfile.TemporaryDirectory(prefix="halfsky-report-") as scratch:
        write_report(Path(scratch), verdict, drop_name, submission_id)
        for name in ("report.json", "report.csv", "report.html"):
            copy_tree(Path(scratch) / name, f"{target}/{name}")
    with conn.transaction():
        _store_findings(conn, submission_id, verdict.findings)
        conn.execute(
            """update ingest.submissions set status = 'rejected', reasons = %s, row_counts = %s, is_late = %s,
                      decided_at = %s, quarantine_path = %s
               where submission_id = %s""",
            (Jsonb(verdict.reasons()), Jsonb(verdict.row_counts()), verdict.is_late, as_of, target, submission_id),
        )
    log.warning("submission %s (%s) rejected: %s; report in %s/report.html", submission_id, drop_name,
                "; ".join(f"{r['rule']}×{r['count']}" for r in verdict.reasons() if r["severity"] == "error"), target)
