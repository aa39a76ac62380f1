"""Check a drop before sending it: ``python -m halfsky.validate <drop>``.

Gives the verdict the nightly pipeline would give (the same parser, the same
Great Expectations suites, the same code lists) and writes the same report.
The prefecture and period come from the drop's path (``.../<prefecture>/<YYYY-MM>/<drop>``)
unless given. Given the warehouse (``--warehouse DSN``), it also refuses a drop for a period the province has
closed (``period_closed``), as the night would.

Exit codes: 0 accepted, 1 rejected, 2 the checker itself failed (no verdict on the drop: one line says
why, the traceback goes to a file it names) or the command line was wrong.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import traceback
from datetime import datetime, timezone
from pathlib import Path

from halfsky.config.dsn import normalise_dsn
from halfsky.ingest.drop_report import shown_value, write_report
from halfsky.ingest.judging.judge import Verdict, judge_drop
from halfsky.ingest.reading.landing import CHECKER_REPORT_SUFFIX
from halfsky.contract.untrusted_text import fitting_file_name, mask_id_numbers_in, printable_name

ACCEPTED, REJECTED, CHECKER_FAILED = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m halfsky.validate", description=__doc__.splitlines()[0])
    p.add_argument("drop", type=Path, help="an .xlsx, a .json, or a folder of .csv files")
    p.add_argument("--prefecture", help="6-digit prefecture code (default: from the path)")
    p.add_argument("--period", help="YYYY-MM (default: from the path)")
    p.add_argument("--report-dir", type=Path, help="where to write report.html/.json/.csv (default: <drop>.report/)")
    p.add_argument("--as-of", help="judge 'future' and 'late' as of this ISO time (default: now)")
    p.add_argument("--warehouse", metavar="DSN",
                   help="also check the period is still open in this warehouse, as the night does, e.g. "
                        "--warehouse \"$AIRFLOW_CONN_WAREHOUSE_DB\" (without it, only the file is judged)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        return _check(p, args)
    except Exception as exc:  # a fault of the checker (or of the disk), never a verdict on the drop
        detail = _save_traceback()
        print(f"halfsky.validate failed, no verdict on the drop / 检查程序出错，未对文件作出判断: "
              f"{type(exc).__name__}: {mask_id_numbers_in(printable_name(str(exc)))[:300]} (details: {detail})",
              file=sys.stderr)
        return CHECKER_FAILED


def _closed_period(dsn: str, prefecture: str, period: str) -> Verdict | None:
    """The night's verdict on any drop for a period the province has closed, or None while it is open. A
    warehouse that cannot answer (down, or without halfsky's tables yet) leaves the file to be judged alone."""
    import psycopg

    from halfsky.warehouse.period_reviews import closure

    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            closed = closure(conn, prefecture, period)
    except psycopg.Error as exc:
        print(f"note: the period was not checked against the warehouse / 未能向数据仓库核对报送期是否已关闭: "
              f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}", file=sys.stderr)
        return None
    return Verdict.rejected(prefecture, period, closed.closed_finding()) if closed else None


def _save_traceback() -> str:
    """The current exception's traceback, id numbers masked, in a private file of the temp folder; its path."""
    fd, path = tempfile.mkstemp(prefix="halfsky-validate-", suffix=".log")  # 0600
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as fh:
        fh.write(mask_id_numbers_in(traceback.format_exc()))
    return path


def _check(p: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    # absolute(), not resolve(): a link is judged (and refused) as the link, and its report stays beside it.
    drop_path = args.drop.absolute()
    if not os.path.lexists(drop_path):
        p.error(f"{printable_name(str(args.drop))} does not exist")
    prefecture = args.prefecture or drop_path.parent.parent.name
    period = args.period or drop_path.parent.name
    as_of = datetime.fromisoformat(args.as_of) if args.as_of else datetime.now(timezone.utc)
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=timezone.utc)
    received_at = datetime.fromtimestamp(drop_path.lstat().st_mtime, tz=timezone.utc)
    verdict = _closed_period(normalise_dsn(args.warehouse), prefecture, period) if args.warehouse else None
    if verdict is None:
        verdict = judge_drop(drop_path, prefecture, period, received_at=min(received_at, as_of), as_of=as_of)
    name = printable_name(drop_path.name)
    # The nightly listing skips it by its suffix; a name near the file system's limit is cut, with a hash.
    report_dir = args.report_dir or drop_path.with_name(fitting_file_name(name, CHECKER_REPORT_SUFFIX))
    report = write_report(report_dir, verdict, name)
    word = "ACCEPTED 接收" if verdict.accepted else "REJECTED 退回"
    print(f"{word}: {mask_id_numbers_in(name)} ({printable_name(prefecture)} {printable_name(period)}); rows {verdict.row_counts()}")
    for r in verdict.reasons():
        print(f"  {r['severity']:<7} {r['rule']:<26} x{r['count']:<6} {r['zh']} / {r['en']}")
    for f in verdict.errors[:20]:
        print(f"    {f.form or '-'} row {f.row_number or '-'} {f.field or ''} = {shown_value(f)!r}: {f.rule} "
              f"{mask_id_numbers_in(f.detail) or ''}")
    if len(verdict.errors) > 20:
        print(f"    … {len(verdict.errors) - 20} more in the report")
    print(f"report: {mask_id_numbers_in(printable_name(str(report)))}")
    return ACCEPTED if verdict.accepted else REJECTED


if __name__ == "__main__":
    raise SystemExit(main())
