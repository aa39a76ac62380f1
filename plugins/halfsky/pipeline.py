"""The steps of the nightly load, independent of Airflow so they can be run and tested alone.

Each step takes what it needs explicitly (the run's data interval, never the
wall clock), so rerunning a day gives the same warehouse.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from halfsky.analyst_role import ensure_analyst_role
from halfsky.dbt_runner import person_key_options, run_dbt
from halfsky.periods import SHANGHAI
from halfsky.ingest import pending_work, process_prefecture
from halfsky.settings import landing_url, person_hmac_key, quarantine_url, warehouse_dsn
from halfsky.reference.load import load_admin_divisions, load_home_regions
from halfsky.warehouse import ensure_schema

log = logging.getLogger(__name__)

DIMENSIONS = ("dim_date", "dim_region", "dim_program", "dim_fund_source", "dim_beneficiary_group", "dim_indicator",
              "dim_population_group", "dim_site_type")
# Reference views the facts' reports read but that depend on no fact source.
REFERENCE_VIEWS = ("int_region_rollup", "stg_reference__home_regions")


def prepare_warehouse(dsn: str | None = None) -> dict:
    """Schemas, the submission log, raw tables and national division codes."""
    ensure_schema(dsn)
    ensure_analyst_role(dsn)
    divisions = load_admin_divisions(dsn)
    home_regions = load_home_regions(dsn)
    return {"divisions": divisions, "home_regions": home_regions}


def build_dimensions(dsn: str | None = None) -> None:
    """Seed the code lists and build the dimensions, with their dbt tests."""
    # cautious: the facts' relationship tests point at the dimensions but wait for build_marts.
    run_dbt(["build", "--select", "resource_type:seed", *(f"+{d}" for d in DIMENSIONS + REFERENCE_VIEWS),
             "--indirect-selection", "cautious"], dsn=dsn)


FACT_SOURCES = ("stg_ingest__submissions", "stg_ingest__drop_findings", "stg_raw__activity", "stg_raw__funds",
                "stg_raw__beneficiaries", "stg_raw__targets", "stg_raw__population", "stg_raw__sites")


def build_marts(as_of: datetime, dsn: str | None = None) -> None:
    """Facts (incremental: only prefecture-periods whose newest drop changed), dim_beneficiary,
    completeness and the analyst views, with their tests. Fails clearly without the person key."""
    from halfsky.person_key import ensure_same_key

    key = person_hmac_key()
    ensure_same_key(key, dsn)  # before anything is built: another key would publish unmatched person keys
    as_of_date = as_of.astimezone(SHANGHAI).date().isoformat()
    run_dbt(["build", "--select", *(f"{m}+" for m in FACT_SOURCES)], dsn=dsn,
            dbt_vars={"as_of_date": as_of_date}, extra_env=person_key_options(key))


def discover_drops(as_of: datetime, dsn: str | None = None, landing: str | None = None) -> list[dict]:
    """Due drops in batches by reporting unit (unknown folders together): the work of the mapped ingest tasks."""
    work, skipped = pending_work(dsn or warehouse_dsn(), landing or landing_url(), as_of)
    if skipped:
        log.info("not processed this run: %s", skipped)
    return work


def ingest_prefecture(batch: dict, as_of: datetime, run_id: str | None = None, dsn: str | None = None,
                      landing: str | None = None, quarantine: str | None = None) -> dict:
    outcome = process_prefecture(dsn or warehouse_dsn(), landing or landing_url(), quarantine or quarantine_url(),
                                 batch["paths"], as_of=as_of, run_id=run_id)
    log.info("batch %s: %s", batch["label"], outcome)
    return {"label": batch["label"], **outcome}


def summarize(outcomes: list[dict], run_id: str, dsn: str | None = None) -> dict:
    """The run in one log block: drops by final status (a drop accepted early in the run may be
    superseded later in it), then rows in every mart."""
    from halfsky.marts_summary import format_counts, table_counts
    from halfsky.warehouse import connect

    with connect(dsn) as conn:
        totals = Counter(dict(conn.execute(
            "select status, count(*) from ingest.submissions where run_id = %s group by status", (run_id,)).fetchall()))
    counts = table_counts(dsn)
    log.info("drops this run: %d accepted, %d rejected, %d duplicate, %d superseded, from %d batches",
             totals["accepted"], totals["rejected"], totals["duplicate"], totals["superseded"], len(outcomes))
    log.info("marts after this run:\n%s", format_counts(counts))
    return {"drops": dict(totals), "batches": len(outcomes), "marts": counts}
