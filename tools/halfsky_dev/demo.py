"""python -m halfsky_dev.demo: the nightly load on bundled sample data, then what landed in the marts.

Generates a landing zone (6 prefectures x 3 months of 2026 and the same months of 2025, their annual
plans and year-end counts, dirty-but-valid cells, a resubmission, a duplicate, one of every invalid drop
and one of every warning) unless one exists, runs ``airflow dags test`` of nightly_load and then of
build_marts (which the scheduler would start on the raw asset) for the day after the last deadline,
and prints the units that need attention, a summary and the analysts' questions answered from the marts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from halfsky.config.private_files import open_private
from halfsky.warehouse.marts_summary import format_counts, table_counts
from halfsky_dev.dags_test_logs import write_task_logs
from halfsky_dev.sample.__main__ import main as generate

LOGICAL_DATE = "2026-10-21"  # the sample's as-of date: every on-time and late drop has arrived


def _fresh_demo_warehouse() -> None:
    """New sample data gets a new warehouse, so the demo's numbers are the sample's numbers.
    Only the database devenv made is reset; a warehouse you configured yourself is never touched."""
    from halfsky_dev.devenv import warehouse_db_name
    from halfsky_dev.local_postgres import database_dsn, drop_database, ensure_database

    admin = os.environ.get("HALFSKY_ADMIN_DSN", "")
    own = warehouse_db_name()  # this checkout's: another checkout's warehouse on the same server is never reset
    if admin and os.environ.get("AIRFLOW_CONN_WAREHOUSE_DB") == database_dsn(admin, own):
        drop_database(admin, own)
        ensure_database(admin, own)
        quarantine = Path(os.environ.get("AIRFLOW_VAR_QUARANTINE_URL", ""))
        if quarantine.is_dir():
            import shutil

            shutil.rmtree(quarantine)


# The federations' own questions (issue 7), answered from the marts; the README shows each with its output.
ANALYST_QUERIES = {
    "1. Share of this year's two-cancer screening task done, and coverage of women aged 35-64, by league/city (2026)": """
        select c.region_name_zh as prefecture, c.target_value as target, c.actual_value as screened,
               c.completion_rate, c.year_elapsed_share, v.persons_reached, v.population as women_35_64, v.coverage_rate,
               v.numerator_source, v.as_of_period
        from marts.rpt_target_completion c
        left join marts.rpt_coverage v using (year, region_level, region_code, program_code)
        where c.year = 2026 and c.region_level = 'prefecture' and c.program_code = 'TWO_CANCER_SCREEN'
          and c.indicator_code = 'PERSON_TIMES'
        order by c.region_code""",
    "2. Women's Homes (妇女之家) at the end of 2025, and how many were built that year, by reporting unit": """
        select r.reporting_unit_name_zh as reporting_unit, sum(s.total) as womens_homes, sum(s.new_this_year) as built_in_2025,
               sum(s.people) as leaders
        from marts.fct_sites s join marts.dim_site_type t using (site_type_key) join marts.dim_region r using (region_key)
        where s.year = 2025 and t.site_type_code = 'WOMENS_HOME'
        group by r.reporting_unit_code, 1 order by r.reporting_unit_code""",
    "3. Lottery-funded relief (中央专项彩票公益金) in 2026: opening balance + received - paid out = closing balance, people helped": """
        select b.prefecture_name_zh as prefecture, b.opening_balance_yuan, b.incoming_yuan as received_yuan,
               b.spent_yuan, b.closing_balance_yuan, b.balance_basis,
               c.persons_paid_cash as women_paid, c.cash_paid_yuan
        from marts.rpt_funds_balance b
        left join marts.rpt_cost_per_beneficiary c
               on c.prefecture_code = b.prefecture_code and c.year = b.year and c.program_code = b.program_code
        where b.fund_source_code = 'LOTTERY_CENTRAL' and b.program_code = 'TWO_CANCER_RELIEF' and b.year = 2026
        order by b.prefecture_code""",
    "4. Ili 2026 so far: 州直, 塔城, 阿勒泰 and 全州 (the reporting unit), person-times and money spent": """
        select region_level, region_name_zh, sum(value_ytd) filter (where measure = 'PERSON_TIMES') as person_times,
               sum(value_ytd) filter (where measure = 'FUNDS_SPENT') as spent_yuan
        from marts.rpt_year_over_year
        where period = '2026-09' and ((region_level = 'prefecture' and region_code in ('654000', '654200', '654300'))
                                      or (region_level = 'reporting_unit' and region_code = '654000'))
        group by 1, 2, region_code order by region_level, region_code""",
    "5. Year-over-year change by league/city, person-times January-September 2026 vs 2025": """
        select region_name_zh as prefecture, sum(value_ytd) as person_times_2026, sum(value_ytd_prior_year) as person_times_2025,
               max(months_reported) as months_2026, max(months_reported_prior_year) as months_2025,
               -- a change over unequal months is a missing month, not a decline (contract v3)
               case when max(months_reported) = max(months_reported_prior_year)
                    then round(sum(value_ytd) / nullif(sum(value_ytd_prior_year), 0) - 1, 4) end as change_rate
        from marts.rpt_year_over_year
        where period = '2026-09' and region_level = 'prefecture' and measure = 'PERSON_TIMES'
        group by region_code, 1 order by region_code""",
    "6. Grassroots at the end of 2025 (基层组织覆盖): counties with a federation in every village, and villages whose 两委 have a woman, by reporting unit": """
        select region_name_zh as reporting_unit,
               max(counties) filter (where measure = 'villages_with_federation') as counties,
               max(counties_fully_covered) filter (where measure = 'villages_with_federation') as every_village_federated,
               max(covered) filter (where measure = 'committees_with_women') as villages_woman_in_committee,
               max(total) filter (where measure = 'committees_with_women') as villages,
               max(coverage_rate) filter (where measure = 'committees_with_women') as share
        from marts.rpt_org_coverage
        where year = 2025 and region_level = 'reporting_unit'
        group by region_code, 1 order by region_code""",
    "Which prefectures were late or missing for 2026-09": """
        select prefecture_code, prefecture_name_zh, status, on_time, drops_rejected
        from marts.rpt_reporting_completeness where period = '2026-09' and (not on_time or status <> 'accepted')
        order by 1""",
    "Warnings kept with the accepted drops (marts.fct_data_quality)": """
        select rule, count(*) as rows, count(distinct submission_id) as drops
        from marts.fct_data_quality group by 1 order by 2 desc""",
    "Home regions of beneficiaries, by the level their id number resolves to": """
        select home_region_level, count(*) as persons, round(count(*) / sum(count(*)) over (), 4) as share
        from marts.dim_beneficiary where beneficiary_key <> '-1' group by 1 order by 1""",
}


def _width(value) -> int:
    """Columns a value takes in a terminal: Chinese characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in str(value))


def print_queries() -> None:
    from halfsky.warehouse.schema import connect

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
    # The sample drops hold (made-up) id numbers, the logs name drops and verdicts: nothing the demo writes,
    # itself or through the runs it starts, is for other accounts on the machine.
    os.umask(0o077)
    landing = Path(os.environ["AIRFLOW_VAR_LANDING_URL"])
    started = time.perf_counter()
    if not landing.exists() or not any(landing.iterdir()):
        _fresh_demo_warehouse()
        generate([str(landing), "--prefectures", "6", "--months", "3", "--prior-year", "--dirty", "--invalid", "all",
                  "--resubmissions", "2", "--duplicates", "1", "--with-warnings", "--force"])
    else:
        print(f"using the existing landing zone {landing}")
    airflow = Path(sys.executable).with_name("airflow")
    for dag_id in ("nightly_load", "build_marts"):
        log_path = Path(os.environ["HALFSKY_HOME"]) / f"demo-{dag_id}.log"
        print(f"running: airflow dags test {dag_id} {LOGICAL_DATE}   (log: {log_path})", flush=True)
        with os.fdopen(open_private(log_path), "w") as log:  # 0600 also where an older demo left one wider
            result = subprocess.run([str(airflow), "dags", "test", dag_id, LOGICAL_DATE], stdout=log, stderr=subprocess.STDOUT)
        log_text = log_path.read_text(errors="replace")
        write_task_logs(dag_id, log_text)  # so the grid's task logs are there, as for a scheduled run
        if result.returncode != 0:
            print(f"the {dag_id} run failed; the last lines of {log_path}:", file=sys.stderr)
            print("\n".join(log_text.splitlines()[-40:]), file=sys.stderr)
            return result.returncode
        if dag_id == "nightly_load":
            print(_attention_summary(log_text))
    print(f"\nnightly_load and build_marts succeeded in {time.perf_counter() - started:.0f}s.\n\nmarts (rows):")
    print(format_counts(table_counts()))
    print(_submission_summary())
    print_queries()
    return 0


def _attention_summary(log_text: str) -> str:
    """The units the night's red needs_attention boxes name, as the grid shows them."""
    import re

    from halfsky.orchestration.pipeline import ATTENTION_HINT

    # each red box's last line: "Task exited exit_code='<label><hint>'" (pipeline.raise_if_needs_attention)
    labels = sorted(set(re.findall(r"exit_code=['\"]?([^'\"\n]+?)" + re.escape(ATTENTION_HINT), log_text)))
    if not labels:
        return "no reporting unit needs attention tonight"
    return "needs attention (red boxes in the grid; the night's alert lists the drops):\n" + "\n".join(
        f"  {label}" for label in labels)


def _submission_summary() -> str:
    from halfsky.warehouse.schema import connect

    with connect() as conn:
        rows = conn.execute("select status, count(*) from ingest.submissions group by 1 order by 1").fetchall()
    return "\ndrops in the submission log: " + ", ".join(f"{n} {status}" for status, n in rows)


if __name__ == "__main__":
    raise SystemExit(main())
