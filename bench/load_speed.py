"""How fast halfsky judges and loads a drop, against a plain COPY of the same rows.

Prints figures; asserts nothing. Ratios are measured in one run, since the
machines here are noisy:  python bench/load_speed.py [--rows 200000]
"""

from __future__ import annotations

import argparse
import csv
import io
import resource
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from ingest_helpers import AS_OF  # noqa: E402

from halfsky.ingest import pending_work, process_prefecture  # noqa: E402
from halfsky.local_postgres import drop_database, ensure_database  # noqa: E402
from halfsky.sample.__main__ import main as generate  # noqa: E402
from halfsky.warehouse import ensure_schema  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=200_000, help="rows per form in the one drop (default 200,000)")
    args = p.parse_args()
    import os

    admin = os.environ["HALFSKY_ADMIN_DSN"]
    name = f"halfsky_bench_{uuid.uuid4().hex[:6]}"
    dsn = ensure_database(admin, name)
    try:
        ensure_schema(dsn)
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "landing"
            t0 = time.perf_counter()
            generate([str(root), "--prefectures", "1", "--months", "1", "--first-period", "2026-09", "--rows", str(args.rows),
                      "--no-annual", "--truth", str(Path(tmp) / "truth.json")])
            generated = time.perf_counter() - t0
            drop = next(root.glob("*/*/*"))
            drop_mb = drop.stat().st_size / 1e6
            # The generator's first drop is an xlsx; make the csv folder the baseline COPY reads too.
            csv_dir = Path(tmp) / "csv"
            csv_dir.mkdir()
            from halfsky.drop_reader import read_drop
            parsed = read_drop(drop)
            funds = parsed.forms["funds"]
            with (csv_dir / "funds.csv").open("w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerows(funds.rows)
            with psycopg.connect(dsn) as conn:
                conn.execute("create temp table plain_funds (region_code text, program_code text, fund_source_code text, "
                             "flow_type text, amount_yuan numeric(18,2), txn_date date, voucher_no text, counterparty text)")
                t0 = time.perf_counter()
                with conn.cursor().copy("copy plain_funds from stdin with (format csv)") as copy:
                    copy.write((csv_dir / "funds.csv").read_bytes())
                plain_copy = time.perf_counter() - t0
            work, _ = pending_work(dsn, str(root), AS_OF)
            t0 = time.perf_counter()
            outcome = process_prefecture(dsn, str(root), str(Path(tmp) / "q"), work[0]["paths"], as_of=AS_OF)
            ours = time.perf_counter() - t0
    finally:
        drop_database(admin, name)
    total_rows = sum(len(t.rows) for t in parsed.forms.values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"drop: {drop.name}, {drop_mb:.1f} MB xlsx, {total_rows:,} rows in 3 forms (generated in {generated:.1f}s)")
    print(f"halfsky judge + load (parse, type, 3 GX suites, COPY): {ours:.1f}s = {total_rows / ours:,.0f} rows/s; outcome {outcome}")
    print(f"plain COPY of the funds rows alone ({len(funds.rows):,} rows, pre-parsed csv): {plain_copy:.2f}s")
    print(f"ratio per row, halfsky vs plain COPY: {(ours / total_rows) / (plain_copy / len(funds.rows)):.0f}x")
    print(f"peak resident memory of this process: {peak_mb:,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
