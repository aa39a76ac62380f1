"""Replay a quarantined drop, after a fix of reference data: ``python -m halfsky.ingest.replay <submission_id>``.

The drop is judged again from its quarantined bytes against today's code lists
and, if it now passes, loaded exactly as if it had passed the first time.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from halfsky.warehouse.audit import command_line_actor, declare_actor
from halfsky.ingest.drop_report import report_location
from halfsky.ingest.loader import accept, reasons_text, reject
from halfsky.ingest.judging.judge import Verdict, judge_drop
from halfsky.ingest.reading.landing import is_local
from halfsky.config.object_store import explained_errors, filesystem
from halfsky.ingest.quarantine import quarantined_drop
from halfsky.config.settings import warehouse_dsn
from halfsky.contract.untrusted_text import fitting_file_name, mask_id_numbers_in
from halfsky.warehouse.period_reviews import PeriodClosed, closure
from halfsky.warehouse.roles import LOADER, assume

log = logging.getLogger(__name__)


def replay(dsn: str, submission_id: int, *, as_of: datetime, actor: str | None = None) -> str:
    """Judge a rejected drop again from its quarantined bytes; returns its new status."""
    with psycopg.connect(dsn) as conn:
        assume(conn, LOADER)
        declare_actor(conn, actor or command_line_actor())
        row = conn.execute(
            "select drop_path, drop_name, received_at, quarantine_path, status from ingest.submissions where submission_id = %s",
            (submission_id,)).fetchone()
        if row is None:
            raise LookupError(f"no submission {submission_id}")
        drop_path, name, received_at, qpath, status = row
        if status != "rejected" or not qpath:
            raise ValueError(f"submission {submission_id} is {status}; only rejected drops can be replayed")
        prefecture_code, period = drop_path.split("/")[:2]
        fs, root = filesystem(quarantined_drop(qpath, name))
        with tempfile.TemporaryDirectory(prefix="halfsky-replay-") as scratch:
            local = Path(root) if is_local(fs) else Path(scratch) / fitting_file_name(name)
            with explained_errors(qpath):
                if not fs.exists(root):
                    raise ValueError(f"submission {submission_id} has no bytes in quarantine (a link, device or pipe, "
                                     "or over the size limit, is never copied): the prefecture must send it again")
                if not local.exists():
                    fs.get(root, str(local), recursive=fs.isdir(root))
            # A period the province has closed takes no drop, replayed or not (the same answer as the night's).
            if closed := closure(conn, prefecture_code, period):
                verdict = Verdict.rejected(prefecture_code, period, closed.closed_finding())
            else:
                verdict = judge_drop(local, prefecture_code, period, received_at=received_at, as_of=as_of)
            conn.execute("update ingest.submissions set replays = replays + 1 where submission_id = %s", (submission_id,))
            conn.commit()
            if verdict.accepted:
                try:
                    return accept(conn, submission_id, verdict, as_of)
                except PeriodClosed as closed:  # approved while it was judged
                    verdict = Verdict.rejected(prefecture_code, period, closed.standing.closed_finding())
            reject(conn, submission_id, verdict, name, qpath, as_of, drop_bytes=None)  # the bytes are already there
            return "rejected"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m halfsky.ingest.replay", description=__doc__.splitlines()[0])
    p.add_argument("submission_id", type=int, nargs="+")
    p.add_argument("--as-of", help="ISO time to record as the decision time (default: now, UTC)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    as_of = datetime.fromisoformat(args.as_of) if args.as_of else datetime.now(timezone.utc)
    failed = 0
    for sid in args.submission_id:
        try:
            print(f"submission {sid}: {replay(warehouse_dsn(), sid, as_of=as_of)}")
        except (LookupError, ValueError) as exc:
            print(f"submission {sid}: {mask_id_numbers_in(str(exc))}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())


def replay_for_run(submission_id: int, *, as_of: datetime, run_id: str | None = None, dsn: str | None = None) -> dict:
    """The replay_quarantined DAG's task: one verdict line, and a failure (a red box) if the drop is rejected again."""
    dsn = dsn or warehouse_dsn()
    status = replay(dsn, submission_id, as_of=as_of, actor=f"airflow run {run_id}" if run_id else None)
    with psycopg.connect(dsn) as conn:
        drop_path, reasons, qpath = conn.execute(
            "select drop_path, reasons, quarantine_path from ingest.submissions where submission_id = %s",
            (submission_id,)).fetchone()
    errors = reasons_text(reasons, errors=True)
    drop_path = mask_id_numbers_in(drop_path)  # an XCom, and the message Airflow logs
    log.info("replay of submission %s (%s) in run %s: %s", submission_id, drop_path, run_id, status.upper())
    if status == "rejected":
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"REJECTED again {drop_path} | submission {submission_id} | {errors} | "
                                   f"report: {report_location(qpath)}")
    return {"submission_id": submission_id, "drop_path": drop_path, "status": status}
