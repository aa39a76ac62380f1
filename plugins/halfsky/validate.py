"""Check a drop before sending it: ``python -m halfsky.validate <drop>``.

Gives the verdict the nightly pipeline would give (the same parser, the same
Great Expectations suites, the same code lists) and writes the same report.
The prefecture and period come from the drop's path (``.../<prefecture>/<YYYY-MM>/<drop>``)
unless given.
"""

from __future__ import annotations

import argparse
import logging
import os
from datetime import datetime, timezone
from pathlib import Path

from halfsky.drop_report import shown_value, write_report
from halfsky.judge import judge_drop
from halfsky.landing import CHECKER_REPORT_SUFFIX
from halfsky.untrusted_text import mask_id_numbers_in, printable_name


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m halfsky.validate", description=__doc__.splitlines()[0])
    p.add_argument("drop", type=Path, help="an .xlsx, a .json, or a folder of .csv files")
    p.add_argument("--prefecture", help="6-digit prefecture code (default: from the path)")
    p.add_argument("--period", help="YYYY-MM (default: from the path)")
    p.add_argument("--report-dir", type=Path, help="where to write report.html/.json/.csv (default: <drop>.report/)")
    p.add_argument("--as-of", help="judge 'future' and 'late' as of this ISO time (default: now)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
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
    verdict = judge_drop(drop_path, prefecture, period, received_at=min(received_at, as_of), as_of=as_of)
    name = printable_name(drop_path.name)
    report_dir = args.report_dir or drop_path.with_name(name + CHECKER_REPORT_SUFFIX)  # the nightly listing skips it
    report = write_report(report_dir, verdict, name)
    word = "ACCEPTED 接收" if verdict.accepted else "REJECTED 退回"
    print(f"{word}: {mask_id_numbers_in(name)} ({printable_name(prefecture)} {printable_name(period)}); rows {verdict.row_counts()}")
    for r in verdict.reasons():
        print(f"  {r['severity']:<7} {r['rule']:<26} x{r['count']:<6} {r['zh']} / {r['en']}")
    for f in verdict.errors[:20]:
        print(f"    {f.form or '-'} row {f.row_number or '-'} {f.field or ''} = {shown_value(f)!r}: {f.rule} {f.detail or ''}")
    if len(verdict.errors) > 20:
        print(f"    … {len(verdict.errors) - 20} more in the report")
    print(f"report: {printable_name(str(report))}")
    return 0 if verdict.accepted else 1


if __name__ == "__main__":
    raise SystemExit(main())
