"""Partitioning by period at 24+ months of history: halfsky's partitioned raw and fact tables against the same
tables unpartitioned, in one database, one run.

    source .halfsky/env.sh && .venv/bin/python bench/partitioning.py [--months 24 36] [--rows-per-month 150000]

For each history length it builds, in a scratch database, raw.beneficiaries as halfsky makes it (partitioned,
halfsky.warehouse.schema.raw_table_ddl) and a fact shaped like marts.fct_benefits, partitioned the way the dbt models
are (reference.ensure_period_partition), plus an unpartitioned copy of each with the same indexes, holding the
same rows: --rows-per-month line-list rows for each of --months months across 330 units. Then it times, on
both, what a month-end and the analysts do (median of --repeat runs):

- load:      a new month's rows into raw (INSERT ... SELECT, as COPY writes them; the partition made on the way)
- fold:      the facts' night for a month-end: delete the month's rows, append them again (delete_changed_periods,
             then dbt's append), then VACUUM the table (autovacuum would)
- month:     an analyst's one-month total by prefecture; year: the same over the last twelve months
- one unit:  one prefecture's rows of one month through the (prefecture_code, period) index
- retire:    the oldest month leaves (past retention): DELETE against DETACH + DROP of its partition
and the size of the index a month-end writes into. Prints a table with the ratio plain / partitioned; writes
bench/results/partitioning.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "partitioning.json"
UNITS = 330

FACT_COLUMNS = """date_key int not null, region_key text not null, program_key text not null,
    beneficiary_group_key text not null, beneficiary_key text not null, benefit_type text,
    amount_yuan numeric(18, 2), submission_id bigint not null, prefecture_code text not null, period text not null"""


def periods(months: int, last: str = "2026-10") -> list[str]:
    year, month = map(int, last.split("-"))
    out = []
    for _ in range(months):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out[::-1]


def raw_rows_sql(table: str, period: str, rows: int, first_submission: int) -> str:
    """``rows`` line-list rows of ``period``, spread over UNITS units (one submission each)."""
    return f"""insert into {table} (submission_id, row_number, period, region_code, program_code, beneficiary_group_code,
                   id_number, name, benefit_date, benefit_type, amount_yuan)
        select {first_submission} + j % {UNITS}, j / {UNITS} + 2, '{period}', (150102 + (j % {UNITS}) * 100)::text,
               'P' || (j % 12), 'G' || (j % 7), lpad((j * 7919 % 999999999)::text, 17, '0') || 'X', '某某',
               date '{period}-01' + j % 28, (array['CASH', 'GOODS', 'SERVICE'])[1 + j % 3], (j % 2000) * 1.5
        from generate_series(0, {rows - 1}) as j"""


def fact_rows_sql(table: str, period: str, rows: int, first_submission: int) -> str:
    return f"""insert into {table}
        select replace('{period}', '-', '')::int * 100 + 1, (150102 + (j % {UNITS}) * 100)::text, 'P' || (j % 12),
               'G' || (j % 7), md5(j::text), (array['CASH', 'GOODS', 'SERVICE'])[1 + j % 3], (j % 2000) * 1.5,
               {first_submission} + j % {UNITS}, (150100 + (j % {UNITS}) * 100)::text, '{period}'
        from generate_series(0, {rows - 1}) as j"""


def timed(conn: psycopg.Connection, statements: list[str], repeat: int, setup: list[str] | None = None) -> float:
    """Median seconds of ``statements`` (one transaction), ``setup`` untimed before each run."""
    seconds = []
    for _ in range(repeat):
        for statement in setup or []:
            conn.execute(statement)
        started = time.perf_counter()
        with conn.transaction():
            for statement in statements:
                conn.execute(statement)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def vacuum_seconds(dsn: str, table: str) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute(f"vacuum {table}")
        return time.perf_counter() - started


def build(dsn: str, months: list[str], rows: int) -> None:
    from halfsky.warehouse.schema import ensure_schema

    ensure_schema(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create schema if not exists plain; create schema if not exists marts_partitions")
        conn.execute("create table plain.beneficiaries (like raw.beneficiaries including defaults)")
        conn.execute("create index on plain.beneficiaries (submission_id)")
        conn.execute(f"create table plain.fct_benefits ({FACT_COLUMNS})")
        conn.execute(f"create table public.fct_benefits ({FACT_COLUMNS}) partition by range (period)")
        conn.execute("select reference.ensure_default_partition('public.fct_benefits', 'marts_partitions')")
        for table in ("plain.fct_benefits", "public.fct_benefits"):
            conn.execute(f"create index on {table} (prefecture_code, period)")
        for number, period in enumerate(months):
            for table in ("raw.beneficiaries", "public.fct_benefits"):
                schema = "raw" if table.startswith("raw.") else "marts_partitions"
                conn.execute("select reference.ensure_period_partition(%s::regclass, %s, %s)", (table, period, schema))
            first = 1 + number * UNITS
            for table in ("raw.beneficiaries", "plain.beneficiaries"):
                conn.execute(raw_rows_sql(table, period, rows, first))
            for table in ("public.fct_benefits", "plain.fct_benefits"):
                conn.execute(fact_rows_sql(table, period, rows, first))
            if number % 6 == 5:
                print(f"  {number + 1} months loaded", flush=True)
        conn.execute("vacuum analyze raw.beneficiaries, plain.beneficiaries, public.fct_benefits, plain.fct_benefits")


def measure(dsn: str, months: list[str], rows: int, repeat: int) -> dict:
    latest, oldest = months[-1], months[0]
    new_month = periods(1, last=f"{int(latest[:4]) + (latest[5:] == '12'):04d}-{int(latest[5:]) % 12 + 1:02d}")[0]
    year = months[-12:]
    new_first = 1 + len(months) * UNITS
    figures: dict = {}

    def pair(name: str, plain: float, partitioned: float) -> None:
        figures[name] = {"plain_s": round(plain, 4), "partitioned_s": round(partitioned, 4),
                         "ratio": round(plain / partitioned, 2) if partitioned else None}

    with psycopg.connect(dsn, autocommit=True) as conn:
        # load: a new month into raw, then out again (so every repeat starts alike)
        undo = lambda table: [f"delete from {table} where period = '{new_month}'"]  # noqa: E731
        pair("load a month into raw",
             timed(conn, [raw_rows_sql("plain.beneficiaries", new_month, rows, new_first)], repeat,
                   setup=undo("plain.beneficiaries")),
             timed(conn, ["select reference.ensure_period_partition('raw.beneficiaries', '%s', 'raw')" % new_month,
                          raw_rows_sql("raw.beneficiaries", new_month, rows, new_first)], repeat,
                   setup=undo("raw.beneficiaries")))
        for table in ("plain.beneficiaries", "raw.beneficiaries"):
            conn.execute(undo(table)[0])
        # fold: the month-end's facts replaced, then the table vacuumed
        fold = lambda table: [f"delete from {table} where (prefecture_code, period) in "  # noqa: E731
                              f"(select distinct prefecture_code, period from {table} where period = '{latest}')",
                              fact_rows_sql(table, latest, rows, 1 + (len(months) - 1) * UNITS)]
        pair("fold a month-end into the fact", timed(conn, fold("plain.fct_benefits"), repeat),
             timed(conn, fold("public.fct_benefits"), repeat))
        pair("vacuum after the fold", vacuum_seconds(dsn, "plain.fct_benefits"),
             vacuum_seconds(dsn, "public.fct_benefits"))
        month_query = lambda table: [f"select prefecture_code, count(*), sum(amount_yuan) from {table} "  # noqa: E731
                                     f"where period = '{months[-2]}' group by 1"]
        pair("analyst: one month by prefecture", timed(conn, month_query("plain.fct_benefits"), repeat),
             timed(conn, month_query("public.fct_benefits"), repeat))
        year_query = lambda table: [f"select prefecture_code, count(*), sum(amount_yuan) from {table} "  # noqa: E731
                                    f"where period between '{year[0]}' and '{year[-1]}' group by 1"]
        pair("analyst: last twelve months by prefecture", timed(conn, year_query("plain.fct_benefits"), repeat),
             timed(conn, year_query("public.fct_benefits"), repeat))
        unit_query = lambda table: [f"select count(*), sum(amount_yuan) from {table} "  # noqa: E731
                                    f"where prefecture_code = '150100' and period = '{months[-2]}'"]
        pair("one unit's month through the index", timed(conn, unit_query("plain.fct_benefits"), repeat),
             timed(conn, unit_query("public.fct_benefits"), repeat))
        # retire the oldest month: once each (it is gone afterwards)
        started = time.perf_counter()
        with conn.transaction():
            conn.execute(f"delete from plain.fct_benefits where period = '{oldest}'")
        plain_s = time.perf_counter() - started
        partition = conn.execute("select reference.ensure_period_partition('public.fct_benefits', %s, 'marts_partitions')",
                                 (oldest,)).fetchone()[0]
        started = time.perf_counter()
        with conn.transaction():
            conn.execute(f"alter table public.fct_benefits detach partition {partition}")
            conn.execute(f"drop table {partition}")
        pair("retire the oldest month", plain_s, time.perf_counter() - started)
        sizes = conn.execute("""
            select (select pg_relation_size(indexrelid) from pg_index where indrelid = 'plain.fct_benefits'::regclass),
                   (select pg_relation_size(i.indexrelid) from pg_index i
                    where i.indrelid = reference.ensure_period_partition('public.fct_benefits', %s, 'marts_partitions'))
        """, (latest,)).fetchone()
        figures["index a month-end writes into (MB)"] = {"plain": round(sizes[0] / 1e6, 1),
                                                           "partitioned": round(sizes[1] / 1e6, 1),
                                                           "ratio": round(sizes[0] / sizes[1], 1)}
        figures["rows"] = conn.execute("select count(*) from plain.fct_benefits").fetchone()[0]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, nargs="+", default=[24, 36])
    parser.add_argument("--rows-per-month", type=int, default=150_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "plugins"))
    import os

    from halfsky_dev.local_postgres import drop_database, ensure_database

    admin = os.environ["HALFSKY_ADMIN_DSN"]
    results = {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "rows_per_month": args.rows_per_month, "units": UNITS, "repeat": args.repeat, "by_months": {}}
    for count in args.months:
        name = f"halfsky_partitioning_{uuid.uuid4().hex[:8]}"
        dsn = ensure_database(admin, name)
        try:
            months = periods(count)
            print(f"{count} months x {args.rows_per_month:,} rows ({months[0]} .. {months[-1]}), raw and fact, "
                  "both layouts:", flush=True)
            started = time.perf_counter()
            build(dsn, months, args.rows_per_month)
            print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
            results["by_months"][count] = measure(dsn, months, args.rows_per_month, args.repeat)
        finally:
            drop_database(admin, name)
    for count, figures in results["by_months"].items():
        print(f"\n{count} months, {figures['rows']:,} fact rows (median of {args.repeat}; ratio = plain / partitioned):")
        print(f"  {'operation':44} {'plain':>10} {'partitioned':>12} {'ratio':>7}")
        for name, f in figures.items():
            if name == "rows":
                continue
            if "plain_s" in f:
                print(f"  {name:44} {f['plain_s']:>9.3f}s {f['partitioned_s']:>11.3f}s {f['ratio']:>6}x")
            else:
                print(f"  {name:44} {f['plain']:>8} MB {f['partitioned']:>9} MB {f['ratio']:>6}x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n")
    print(f"\nwritten to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
