"""python -m halfsky.demo: the nightly load on bundled sample data, then what landed in the marts.

Generates a landing zone (6 prefectures x 3 months, dirty-but-valid cells, a
resubmission, a duplicate and one of every invalid drop) unless one exists,
runs ``airflow dags test nightly_load`` for the day after the last deadline,
and prints a summary.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from halfsky.marts_summary import format_counts, table_counts
from halfsky.sample.__main__ import main as generate

LOGICAL_DATE = "2026-10-21"  # the sample's as-of date: every on-time and late drop has arrived


def _fresh_demo_warehouse() -> None:
    """New sample data gets a new warehouse, so the demo's numbers are the sample's numbers.
    Only the database devenv made is reset; a warehouse you configured yourself is never touched."""
    from halfsky.devenv import WAREHOUSE_DB
    from halfsky.local_postgres import database_dsn, drop_database, ensure_database

    admin = os.environ.get("HALFSKY_ADMIN_DSN", "")
    if admin and os.environ.get("AIRFLOW_CONN_WAREHOUSE_DB") == database_dsn(admin, WAREHOUSE_DB):
        drop_database(admin, WAREHOUSE_DB)
        ensure_database(admin, WAREHOUSE_DB)
        quarantine = Path(os.environ.get("AIRFLOW_VAR_QUARANTINE_URL", ""))
        if quarantine.is_dir():
            import shutil

            shutil.rmtree(quarantine)


ANALYST_QUERIES = {
    "Money in and out per program, Ili (654000), Q3 2026": """
        select program_name_zh, sum(incoming_yuan) as incoming_yuan, sum(outgoing_yuan) as outgoing_yuan
        from marts.rpt_funds_balance where prefecture_code = '654000' and period between '2026-07' and '2026-09'
        group by 1 order by 3 desc nulls last limit 5""",
    "Distinct women screened for the two cancers in 2026, by prefecture": """
        select r.name_zh as prefecture, count(distinct b.beneficiary_key) as women_screened
        from marts.fct_benefits b join marts.dim_program p using (program_key)
        join marts.dim_beneficiary d using (beneficiary_key) join marts.dim_date t using (date_key)
        join marts.dim_region r on r.region_code = b.prefecture_code
        where p.program_code = 'TWO_CANCER_SCREEN' and d.gender = 'F' and t.year = 2026
        group by 1 order by 2 desc""",
    "Which prefectures were late or missing for 2026-09": """
        select prefecture_code, prefecture_name_zh, status, on_time, drops_rejected
        from marts.rpt_reporting_completeness where period = '2026-09' and (not on_time or status <> 'accepted')
        order by 1""",
}


def _width(value) -> int:
    """Columns a value takes in a terminal: Chinese characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in str(value))


def print_queries() -> None:
    from halfsky.warehouse import connect

    with connect() as conn:
        for title, query in ANALYST_QUERIES.items():
            cur = conn.execute(query)
            names = [c.name for c in cur.description]
            rows = cur.fetchall()
            print(f"\n{title}:")
            widths = [max(_width(x) for x in [n, *[r[i] for r in rows]]) for i, n in enumerate(names)]
            for r in [names, *rows]:
                print(("  " + "  ".join(str(v) + " " * (w - _width(v)) for v, w in zip(r, widths))).rstrip())


def main() -> int:
    landing = Path(os.environ["AIRFLOW_VAR_LANDING_URL"])
    started = time.perf_counter()
    if not landing.exists() or not any(landing.iterdir()):
        _fresh_demo_warehouse()
        generate([str(landing), "--prefectures", "6", "--months", "3", "--dirty", "--invalid", "all",
                  "--resubmissions", "2", "--duplicates", "1", "--with-warnings", "--force"])
    else:
        print(f"using the existing landing zone {landing}")
    log_path = Path(os.environ["HALFSKY_HOME"]) / "demo-dag-run.log"
    print(f"running: airflow dags test nightly_load {LOGICAL_DATE}   (log: {log_path})", flush=True)
    airflow = Path(sys.executable).with_name("airflow")
    with log_path.open("w") as log:
        result = subprocess.run([str(airflow), "dags", "test", "nightly_load", LOGICAL_DATE], stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        print(f"the DAG run failed; the last lines of {log_path}:", file=sys.stderr)
        print("\n".join(log_path.read_text(errors="replace").splitlines()[-40:]), file=sys.stderr)
        return result.returncode
    print(f"\nnightly_load succeeded in {time.perf_counter() - started:.0f}s.\n\nmarts (rows):")
    print(format_counts(table_counts()))
    print(_submission_summary())
    print_queries()
    return 0


def _submission_summary() -> str:
    from halfsky.warehouse import connect

    with connect() as conn:
        rows = conn.execute("select status, count(*) from ingest.submissions group by 1 order by 1").fetchall()
    return "\ndrops in the submission log: " + ", ".join(f"{n} {status}" for status, n in rows)


if __name__ == "__main__":
    raise SystemExit(main())
