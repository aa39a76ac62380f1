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


def main() -> int:
    landing = Path(os.environ["AIRFLOW_VAR_LANDING_URL"])
    started = time.perf_counter()
    if not landing.exists() or not any(landing.iterdir()):
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
