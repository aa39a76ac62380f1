"""What a dbt night costs as history grows: a night with nothing new, and a night with one new prefecture-period.

For each history size it makes a throw-away warehouse, writes the history straight into raw.* and
ingest.submissions with set-based SQL (generate_series; codes from the dbt seeds and the loaded
divisions; id numbers with a correct GB 11643 check digit computed in SQL), builds the marts once
(not timed), then times ``halfsky.orchestration.pipeline.build_marts``, the nightly path, on two nights:

- "nothing new": no drop arrived since the last build;
- "one new prefecture-period": one accepted drop of ``new_rows`` rows arrived.

Prints a table; asserts nothing. Ratios are what to read (the machines here are noisy):

    python bench/dbt_nights.py [--history 200000 1200000 10000000] [--new-rows 200000]

``measure_nights`` is imported by bench/run.py; keep its signature.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import os
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from halfsky.warehouse.partitions import ensure_raw_partitions

log = logging.getLogger("bench.dbt_nights")
ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "dbt_project" / "seeds"

# Nights in the middle of a week: a Sunday would run the weekly full checks.
FIRST_BUILD = datetime.fromisoformat("2026-10-20T02:00:00+08:00")   # Tuesday
NIGHTS = (("nothing new", datetime.fromisoformat("2026-10-21T02:00:00+08:00")),              # Wednesday
          ("one new prefecture-period", datetime.fromisoformat("2026-10-22T02:00:00+08:00")))  # Thursday
BENCH_KEY = "bench-person-key-" + "n" * 32

# GB 11643: weights of the first 17 digits; the check digit is '10X98765432'[sum % 11].
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_SUM = " + ".join(f"substr(d17, {i + 1}, 1)::int * {w}" for i, w in enumerate(_WEIGHTS))
DAYS_OF_BIRTH = 20_000  # birth dates from 1950-01-01 on


def _seed_codes(name: str, column: str) -> list[str]:
    with (SEEDS / f"{name}.csv").open(encoding="utf-8") as fh:
        return [row[column] for row in csv.DictReader(fh)]


def _units() -> list[str]:
    return _seed_codes("reporting_units", "prefecture_code")


def _period(index: int) -> str:
    """The index-th month from 2024-01."""
    return f"{2024 + index // 12}-{index % 12 + 1:02d}"


def split_rows(rows: int) -> dict[str, int]:
    """How a drop's rows spread over the monthly forms: a tenth activity, three tenths funds, the rest the line list."""
    activity, funds = rows // 10, 3 * rows // 10
    return {"activity": activity, "funds": funds, "beneficiaries": rows - activity - funds}


def add_drop(conn: psycopg.Connection, index: int, rows: int, first_seen: datetime, *, drop_name: str | None = None,
             person_offset: int | None = None) -> int:
    """One accepted monthly drop of ``rows`` raw rows: prefecture-period number ``index`` (the units of
    reporting_units.csv in turn, month after month from 2024-01), written with set-based SQL.

    Persons: the line list names 0.85 x its rows distinct persons, numbered from ``person_offset``
    (default ``index`` x 0.8 x the line list, so neighbouring periods share a few). Returns the submission_id.
    """
    units = _units()
    unit, period = units[index % len(units)], _period(index // len(units))
    counts = split_rows(rows)
    name = drop_name or f"bench_{index:05d}.json"
    ensure_raw_partitions(conn, ("activity", "funds", "beneficiaries"), period)  # as the loader does
    counties = [r[0] for r in conn.execute(
        "select code from reference.admin_divisions where reporting_unit_code = %s and level = 'county' order by code",
        (unit,)).fetchall()] or [unit]
    previous = conn.execute(
        "select submission_id from ingest.submissions where prefecture_code = %s and period = %s and status = 'accepted'",
        (unit, period)).fetchall()
    submission_id = conn.execute(
        """insert into ingest.submissions (prefecture_code, period, drop_name, drop_path, format, size_bytes,
                                           received_at, first_seen_at, status, decided_at, accepted_at, row_counts)
           values (%s, %s, %s, %s, 'json', %s, %s, %s, 'accepted', %s, %s, %s) returning submission_id""",
        (unit, period, name, f"{unit}/{period}/{name}", rows * 100, first_seen - timedelta(hours=3), first_seen,
         first_seen, first_seen, psycopg.types.json.Jsonb(counts))).fetchone()[0]
    if previous:  # the newest accepted drop of a period supersedes the older ones, as halfsky.ingest.loader.accept does
        conn.execute("update ingest.submissions set status = 'superseded' where submission_id = any(%s)",
                     ([p[0] for p in previous],))
    params = {
        "sid": submission_id, "counties": counties, "programs": _seed_codes("programs", "program_code"),
        "groups": _seed_codes("beneficiary_groups", "beneficiary_group_code"),
        "sources": _seed_codes("fund_sources", "fund_source_code"), "flows": _seed_codes("flow_types", "flow_type"),
        "first_day": f"{period}-01", "period": period,
    }
    conn.execute(
        """insert into raw.activity (submission_id, row_number, period, region_code, program_code, beneficiary_group_code,
                                     events, beneficiaries, volunteers, quantity)
           select %(sid)s, j + 2, %(period)s, (%(counties)s::text[])[1 + j %% cardinality(%(counties)s::text[])],
                  (%(programs)s::text[])[1 + j %% cardinality(%(programs)s::text[])],
                  (%(groups)s::text[])[1 + (j / 7) %% cardinality(%(groups)s::text[])],
                  1 + j %% 5, 1 + j %% 50, j %% 7, null
           from generate_series(0, %(n)s - 1) as j""", {**params, "n": counts["activity"]})
    conn.execute(
        """insert into raw.funds (submission_id, row_number, period, region_code, program_code, fund_source_code, flow_type,
                                  amount_yuan, txn_date, voucher_no, counterparty, recipient_region_code, in_kind)
           select %(sid)s, j + 2, %(period)s, (%(counties)s::text[])[1 + j %% cardinality(%(counties)s::text[])],
                  (%(programs)s::text[])[1 + j %% cardinality(%(programs)s::text[])],
                  (%(sources)s::text[])[1 + (j / 3) %% cardinality(%(sources)s::text[])],
                  (%(flows)s::text[])[1 + j %% cardinality(%(flows)s::text[])],
                  (1 + j %% 20000) * 1.25, %(first_day)s::date + j %% 28, 'V-' || j, '合作单位' || (j %% 97), null, j %% 11 = 0
           from generate_series(0, %(n)s - 1) as j""", {**params, "n": counts["funds"]})
    line = counts["beneficiaries"]
    distinct = max(1, math.ceil(0.85 * line))
    offset = index * math.ceil(0.8 * line) if person_offset is None else person_offset
    conn.execute(
        f"""insert into raw.beneficiaries (submission_id, row_number, period, region_code, program_code, beneficiary_group_code,
                                          id_number, name, benefit_date, benefit_type, amount_yuan)
            select %(sid)s, j + 2, %(period)s, region, program, grp, d17 || substr('10X98765432', ({_CHECK_SUM}) %% 11 + 1, 1),
                   '某某', %(first_day)s::date + j %% 28, kind,
                   case kind when 'CASH' then 500.00 when 'GOODS' then 120.50 end
            from (
                select j, (%(counties)s::text[])[1 + j %% cardinality(%(counties)s::text[])] as region,
                       (%(programs)s::text[])[1 + j %% cardinality(%(programs)s::text[])] as program,
                       (%(groups)s::text[])[1 + (j / 7) %% cardinality(%(groups)s::text[])] as grp,
                       (array['CASH', 'GOODS', 'SERVICE'])[1 + j %% 3] as kind,
                       -- a person: home county, birth date and an even sequence number (a woman), unique per number
                       (%(counties)s::text[])[1 + pn %% cardinality(%(counties)s::text[])]
                       || to_char(date '1950-01-01' + ((pn / cardinality(%(counties)s::text[])) %% {DAYS_OF_BIRTH})::int, 'YYYYMMDD')
                       || lpad((((pn / (cardinality(%(counties)s::text[]) * {DAYS_OF_BIRTH})) %% 500) * 2)::text, 3, '0') as d17
                from (select j, %(offset)s + j %% %(distinct)s as pn from generate_series(0, %(n)s - 1) as j) as numbered
            ) as person_rows""", {**params, "n": line, "offset": offset, "distinct": distinct})
    return submission_id


def build_history(dsn: str, history_rows: int, new_rows: int, first_seen: datetime) -> int:
    """``history_rows`` raw rows in prefecture-periods of ``new_rows`` rows (the last one smaller); returns how many."""
    drops = max(1, math.ceil(history_rows / new_rows))
    with psycopg.connect(dsn) as conn:
        conn.execute("set session_replication_role = replica")  # no per-row foreign-key checks while loading
        # The tables' own indexes (a partitioned table's takes its partitions' with it), but a constraint's.
        indexes = conn.execute("""select i.indexrelid::regclass::text from pg_index i join pg_class t on t.oid = i.indrelid
                                  where t.relnamespace = 'raw'::regnamespace and not t.relispartition
                                    and not exists (select from pg_constraint c where c.conindid = i.indexrelid)""").fetchall()
        for (index,) in indexes:
            conn.execute(f"drop index {index}")
        for i in range(drops):
            add_drop(conn, i, min(new_rows, history_rows - i * new_rows), first_seen - timedelta(days=drops - i))
    from halfsky.warehouse.schema import ensure_schema

    ensure_schema(dsn)  # the raw indexes again, built once over the loaded rows
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("vacuum analyze ingest.submissions, raw.activity, raw.funds, raw.beneficiaries")
    return drops


def _count(dsn: str, query: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchone()[0]


def measure_nights(admin_dsn: str, history_rows: list[int], new_rows: int = 200_000) -> list[dict]:
    """Time build_marts on a night with nothing new and on one with a new prefecture-period of ``new_rows``
    rows, over each history size (raw rows already built into the marts). One dict per night."""
    from halfsky.orchestration import pipeline
    from halfsky_dev.local_postgres import drop_database, ensure_database

    if not os.environ.get("HALFSKY_PERSON_HMAC_KEY"):
        os.environ["HALFSKY_PERSON_HMAC_KEY"] = BENCH_KEY
    results = []
    for history in history_rows:
        name = f"halfsky_nights_{uuid.uuid4().hex[:8]}"
        dsn = ensure_database(admin_dsn, name)
        try:
            pipeline.prepare_warehouse(dsn)
            pipeline.build_dimensions(dsn)
            started = time.perf_counter()
            drops = build_history(dsn, history, new_rows, FIRST_BUILD)
            generated = time.perf_counter() - started
            started = time.perf_counter()
            pipeline.build_marts(FIRST_BUILD, dsn=dsn, full_checks=False)
            first_build = time.perf_counter() - started
            for night, as_of in NIGHTS:
                if night != "nothing new":
                    with psycopg.connect(dsn) as conn:
                        add_drop(conn, drops, new_rows, as_of - timedelta(hours=1))
                    with psycopg.connect(dsn, autocommit=True) as conn:
                        conn.execute("analyze ingest.submissions")
                persons_before = _count(dsn, "select count(*) from marts.dim_beneficiary")
                started = time.perf_counter()
                pipeline.build_marts(as_of, dsn=dsn)
                seconds = time.perf_counter() - started
                results.append({
                    "history_rows": history, "night": night, "seconds": round(seconds, 2),
                    "persons": _count(dsn, "select count(*) - 1 from marts.dim_beneficiary"),
                    "new_persons": _count(dsn, "select count(*) from marts.dim_beneficiary") - persons_before,
                    "raw_rows_after": _count(dsn, "select (select count(*) from raw.activity) + (select count(*) "
                                                  "from raw.funds) + (select count(*) from raw.beneficiaries)"),
                    "history_drops": drops, "generate_s": round(generated, 1), "first_build_s": round(first_build, 1),
                })
                log.info("%s", _row(results[-1]))
        finally:
            drop_database(admin_dsn, name)
    return results


HEADER = f"{'history rows':>13}  {'night':<26} {'seconds':>8}  {'persons':>9}  {'new persons':>11}  {'(generate, first build)':>24}"


def _row(r: dict) -> str:
    setup = f"{r['generate_s']:.0f}s, {r['first_build_s']:.0f}s"
    return (f"{r['history_rows']:>13,}  {r['night']:<26} {r['seconds']:>8.1f}  {r['persons']:>9,}  {r['new_persons']:>11,}"
            f"  {setup:>24}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--history", type=int, nargs="+", default=[200_000, 1_200_000, 10_000_000],
                   help="raw rows already in the marts (default 200000 1200000 10000000)")
    p.add_argument("--new-rows", type=int, default=200_000, help="rows of the new prefecture-period (default 200000)")
    p.add_argument("--dbt-project", help="time another copy of the dbt project (e.g. the previous commit's)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    if args.dbt_project:
        import halfsky.warehouse.dbt_runner

        halfsky.warehouse.dbt_runner.PROJECT_DIR = Path(args.dbt_project).resolve()
    admin = os.environ.get("HALFSKY_ADMIN_DSN")
    if not admin:
        print("HALFSKY_ADMIN_DSN is not set: source .halfsky/env.sh first", file=sys.stderr)
        return 2
    print(HEADER, flush=True)
    results = measure_nights(admin, args.history, args.new_rows)
    print("\nratios against the smallest history (same night):")
    smallest = {r["night"]: r["seconds"] for r in results if r["history_rows"] == min(args.history)}
    for r in results:
        print(f"  {r['history_rows']:>13,}  {r['night']:<26} {r['seconds'] / smallest[r['night']]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
