"""The table of docs/hostile-input.md, generated: every case of tests/hostile_catalogue.py through the pipeline.

    source .halfsky/env.sh && .venv/bin/python bench/hostile_table.py [--only TEXT] [--skip TEXT]

Each case is built by the catalogue's own builder and run by its own ``run_case`` (the nightly ingest:
pending_work, then process_prefecture per batch) against a throw-away warehouse database on the server
HALFSKY_ADMIN_DSN names, dropped at the end. Prints the markdown table ``| case | verdict (status, rule) |
time |``; the time is the ingest run that decided the case and a valid drop of another unit beside it
(building them is not counted). A case whose verdict or side checks differ from the catalogue's
expectation is marked with what went wrong, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a pipe inside a cell would end it


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:,.1f} s"


def _verdict_cell(outcome) -> str:
    if outcome.status is None:
        return "ignored (never listed or read)"
    if outcome.status == "rejected":
        return f"rejected, `{', '.join(sorted(outcome.errors))}`"
    rule = outcome.case.rule
    return f"accepted, warns `{rule}`" if rule else "accepted"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/hostile_table.py", description=__doc__.splitlines()[0])
    p.add_argument("--only", help="run only the cases whose name holds this text")
    p.add_argument("--skip", help="leave out the cases whose name holds this text")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(message)s")
    logging.getLogger("halfsky").setLevel(logging.CRITICAL)  # rejections are the point here, not news

    from hostile_catalogue import CASES, problems, run_case
    from halfsky_dev.local_postgres import drop_database, ensure_database
    from halfsky.warehouse.schema import ensure_schema

    admin = os.environ.get("HALFSKY_ADMIN_DSN")
    if not admin:
        p.error("HALFSKY_ADMIN_DSN is not set: source .halfsky/env.sh first")
    cases = [c for c in CASES if (not args.only or args.only in c.name) and (not args.skip or args.skip not in c.name)]
    name = f"halfsky_bench_hostile_{uuid.uuid4().hex[:8]}"
    dsn = ensure_database(admin, name)
    failed = 0
    started = time.perf_counter()
    try:
        ensure_schema(dsn)
        print("| case | verdict (status, rule) | time |")
        print("|---|---|---|")
        for case in cases:
            with tempfile.TemporaryDirectory(prefix="halfsky-hostile-") as scratch:
                outcome = run_case(case, dsn, Path(scratch))
                wrong = problems(outcome)  # it reads the reports, before the scratch folder goes
            failed += bool(wrong)
            verdict = _verdict_cell(outcome) + (f"; {case.note}" if case.note else "")
            if wrong:
                verdict += f" **not as expected: {'; '.join(wrong)}**"
            print(f"| {_cell(case.name)} | {_cell(verdict)} | {_duration(outcome.seconds)} |", flush=True)
    finally:
        drop_database(admin, name)
    print(f"\n{len(cases)} cases, {failed} not as expected, {time.perf_counter() - started:.0f} s in all", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
