"""The steps of the nightly load, independent of Airflow so they can be run and tested alone.

Each step takes what it needs explicitly (the run's data interval, never the
wall clock), so rerunning a day gives the same warehouse.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from urllib.parse import quote

from halfsky.warehouse.analyst_role import ensure_analyst_role
from halfsky.warehouse.dbt_runner import night_env, person_key_options, run_dbt
from halfsky.ingest.runner import ELSEWHERE, DropVerdict, pending_work, process_prefecture
from halfsky.ingest.batches import UNKNOWN_UNITS
from halfsky.contract.reference.code_lists import unit_label  # also the DAG's (pipeline.unit_label)
from halfsky.config.settings import landing_url, person_hmac_key, quarantine_url, warehouse_dsn
from halfsky.warehouse.reference_load import load_admin_divisions, load_home_regions
from halfsky.warehouse.schema import ensure_schema

log = logging.getLogger(__name__)

DIMENSIONS = ("dim_date", "dim_region", "dim_program", "dim_fund_source", "dim_beneficiary_group", "dim_indicator",
              "dim_population_group", "dim_site_type")
# Reference views the facts' reports read but that depend on no fact source.
REFERENCE_VIEWS = ("int_region_rollup", "int_region_units", "stg_reference__home_regions")


def prepare_warehouse(dsn: str | None = None) -> dict:
    """Schemas, the submission log, raw tables and national division codes."""
    ensure_schema(dsn)
    ensure_analyst_role(dsn)
    divisions = load_admin_divisions(dsn)
    home_regions = load_home_regions(dsn)
    return {"divisions": divisions, "home_regions": home_regions}


@contextmanager
def one_dbt_build_at_a_time(dsn: str | None = None) -> Iterator[None]:
    """Hold the warehouse's build lock while dbt runs: two processes building the same tables at once
    (two nightly loads started together, a manual build during the night's) would fail each other.
    A session lock: Postgres releases it if this process dies."""
    from halfsky.warehouse.schema import connect

    with connect(dsn, autocommit=True) as conn:
        if not conn.execute("select pg_try_advisory_lock(hashtext('halfsky.dbt_build'))").fetchone()[0]:
            log.info("another dbt build of this warehouse is running; waiting for it to finish")
            conn.execute("select pg_advisory_lock(hashtext('halfsky.dbt_build'))")
        yield


def build_dimensions(dsn: str | None = None) -> None:
    """Seed the code lists and build the dimensions, with their dbt tests."""
    # cautious: the facts' relationship tests point at the dimensions but wait for build_marts.
    with one_dbt_build_at_a_time(dsn):
        run_dbt(["build", "--select", "resource_type:seed", *(f"+{d}" for d in DIMENSIONS + REFERENCE_VIEWS),
                 "--indirect-selection", "cautious"], dsn=dsn)


# What a night's build starts from: the submission log, raw, and the province's sign-off (dim_submission and the
# completeness report show where each period stands).
FACT_SOURCES = ("stg_ingest__submissions", "stg_ingest__drop_findings", "stg_raw__activity", "stg_raw__funds",
                "stg_raw__beneficiaries", "stg_raw__purged_persons", "stg_raw__targets", "stg_raw__population",
                "stg_raw__sites", "stg_raw__grassroots", "stg_audit__period_approval")


def build_marts(as_of: datetime, dsn: str | None = None, full_checks: bool | None = None) -> None:
    """Facts and dim_beneficiary (incremental: only prefecture-periods whose newest drop changed),
    completeness and the analyst views, with their tests. Fails clearly without the person key.
    The tests check the night's changes, every row on Sundays or with ``full_checks=True``."""
    from halfsky.warehouse.person_key import ensure_same_key
    from halfsky.orchestration.run_context import full_checks as weekly_full_checks

    key = person_hmac_key()
    ensure_same_key(key, dsn)  # before anything is built: another key would publish unmatched person keys
    checks = weekly_full_checks(as_of) if full_checks is None else full_checks
    with one_dbt_build_at_a_time(dsn):
        run_dbt(["build", "--select", *(f"{m}+" for m in FACT_SOURCES)], dsn=dsn,
                extra_env={**night_env(as_of, checks), **person_key_options(key)})


def discover_drops(as_of: datetime, dsn: str | None = None, landing: str | None = None,
                   prefecture: str | None = None, period: str | None = None) -> list[dict]:
    """Due drops in batches by reporting unit (unknown folders together): the work of the mapped ingest tasks.
    ``prefecture``/``period`` narrow a re-run an admin asked for to one unit and/or period."""
    from halfsky.orchestration.drop_handles import handle

    work, skipped = pending_work(dsn or warehouse_dsn(), landing or landing_url(), as_of,
                                 only_unit=prefecture, only_period=period)
    if skipped:
        log.info("not processed this run: %s", skipped)
    # An XCom and a rendered field of every ingest task: no name's id number in them (halfsky.orchestration.drop_handles).
    return [{**batch, "paths": [handle(p) for p in batch["paths"]]} for batch in work]


def ingest_prefecture(batch: dict, as_of: datetime, run_id: str | None = None, dsn: str | None = None,
                      landing: str | None = None, quarantine: str | None = None) -> dict:
    """One reporting unit's due drops (paths or halfsky.orchestration.drop_handles' handles); returns counts by status and every
    drop's verdict, its path masked for id numbers (the outcome is an XCom)."""
    from halfsky.orchestration.drop_handles import resolve

    verdicts: list[DropVerdict] = []
    landing = landing or landing_url()
    counts = process_prefecture(dsn or warehouse_dsn(), landing, quarantine or quarantine_url(),
                                resolve(landing, batch["paths"]), as_of=as_of, run_id=run_id, on_verdict=verdicts.append)
    late = sum(v.is_late for v in verdicts if v.status != "rejected")
    outcome = {"label": batch["label"], "counts": counts, "late": late, "drops": [v.as_dict() for v in verdicts]}
    log.info("%s", night_label(outcome))
    return outcome


def not_units_label(paths: list[str]) -> str:
    """'not reporting units (159900, 800000 and 1,099 more)': the folders of the landing zone no unit owns,
    named, so an admin can find them (their drops are rejected by path)."""
    folders = sorted({p.split("/")[0] for p in paths})
    more = len(folders) - 3
    return f"not reporting units ({', '.join(folders[:3])}{f' and {more:,} more' if more > 0 else ''})"


def night_label(outcome: dict) -> str:
    """'150100 呼和浩特市: 2 rejected, 9 accepted, 1 late': a unit's night, as its grid box and the summary show it."""
    who = (not_units_label([d["path"] for d in outcome.get("drops", [])]) if outcome["label"] == UNKNOWN_UNITS
           else unit_label(outcome["label"]))
    return f"{who}: {verdict_label(outcome['counts'], outcome['late'])}"


def verdict_label(counts: dict[str, int], late: int) -> str:
    """'3 accepted, 5 rejected, 1 late': a batch's night in the words an admin scans for."""
    parts = [f"{counts[s]} {s}" for s in ("rejected", "accepted", "superseded", "duplicate") if counts.get(s)]
    if late:
        parts.append(f"{late} late")
    if counts.get(ELSEWHERE):
        parts.append(f"{counts[ELSEWHERE]} left to another run")
    return ", ".join(parts) or "nothing due"


def needing_attention(outcomes: list[dict]) -> list[dict]:
    """Reporting units with a rejected or late drop this run: one mapped ``needs_attention`` box each,
    so the grid names them without opening a log. (Reports still missing are in the night's digest.)"""
    units: dict[str, dict] = {}
    for outcome in outcomes:
        for drop in outcome.get("drops", []):
            unit = drop["path"].split("/")[0] if outcome["label"] != UNKNOWN_UNITS else UNKNOWN_UNITS
            entry = units.setdefault(unit, {"unit": unit, "rejected": [], "late": []})
            if drop["status"] == "rejected":
                entry["rejected"].append({k: drop[k] for k in ("path", "reasons", "report")})
            elif drop["is_late"]:
                entry["late"].append(drop["path"])
    flagged = [u for u in units.values() if u["rejected"] or u["late"]]
    for entry in flagged:
        parts = [f"{len(entry[k])} {k}" for k in ("rejected", "late") if entry[k]]
        who = (not_units_label([d["path"] for d in entry["rejected"]]) if entry["unit"] == UNKNOWN_UNITS
               else unit_label(entry["unit"]))
        entry["label"] = f"{who}: {', '.join(parts)}"
    return sorted(flagged, key=lambda e: e["unit"])


def summarize_night(outcomes: list[dict], run_id: str, dsn: str | None = None) -> dict:
    """The night in one log block: drops by final status (a drop accepted early in the run may be
    superseded later in it), then one line per reporting unit."""
    from halfsky.warehouse.schema import connect

    with connect(dsn) as conn:
        totals = Counter(dict(conn.execute(
            "select status, count(*) from ingest.submissions where run_id = %s group by status", (run_id,)).fetchall()))
    drops = {status: totals[status] for status in ("accepted", "rejected", "duplicate", "superseded")}
    lines = [night_label(o) for o in outcomes if o]
    # Batches hold several units each (halfsky.ingest.batches); every folder that is no unit counts as one.
    units = {d["path"].split("/")[0] if o["label"] != UNKNOWN_UNITS else UNKNOWN_UNITS for o in outcomes if o for d in o["drops"]}
    log.info("drops this run: %d accepted, %d rejected, %d duplicate, %d superseded, from %d units in %d tasks\n%s",
             *drops.values(), len(units), len(outcomes), "\n".join(lines))
    return {"drops": drops, "units": len(units), "tasks": len(outcomes)}


def purge_personal_data(as_of: datetime, run_id: str | None = None, dsn: str | None = None) -> dict:
    """Id numbers and names older than the retention (halfsky.warehouse.retention) leave raw; the marts stay as they are."""
    from halfsky.warehouse.retention import purge_personal_data as purge
    from halfsky.config.settings import person_hmac_key, retention_months

    return purge(dsn or warehouse_dsn(), as_of, retention_months(), person_hmac_key(),
                 actor=f"airflow run {run_id}" if run_id else None)


def summarize_marts(dsn: str | None = None) -> dict:
    """Rows in every mart, logged as a table: what the analysts have after this build."""
    from halfsky.warehouse.marts_summary import format_counts, table_counts

    counts = table_counts(dsn)
    log.info("marts after this build:\n%s", format_counts(counts))
    return counts


def raw_changed(summary: dict, run_type: str) -> bool:
    """Whether this run must update the raw asset (and so rebuild the marts): a scheduled night always does,
    since lateness moves on with the date; a re-run from the form only if it decided a drop."""
    return str(getattr(run_type, "value", run_type)) == "scheduled" or any(summary["drops"].values())


def run_url(context: dict) -> str | None:
    """The run's page in the Airflow UI, for alerts (None when no UI address is configured)."""
    from airflow.sdk import conf

    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    if not base:
        return None
    dag_run = context["dag_run"]
    return f"{base}/dags/{dag_run.dag_id}/runs/{quote(dag_run.run_id, safe='')}"


# What a red needs_attention box says after the unit's label, on its last line.
ATTENTION_HINT = " (each drop, its rules and its report are on the lines above)"


def raise_if_needs_attention(unit: dict) -> None:
    """Fail (a red box naming the unit) for rejected drops; late drops alone only log (the box stays green).

    The log is one line per drop and one closing line. The box fails by SystemExit, which Airflow's task runner
    logs as that one line ("Task exited"); an exception would be logged with a traceback of the runner's own
    frames, forty lines that tell an admin nothing about an expected rejection."""
    lines = [f"REJECTED  {d['path']} | {d['reasons']} | report: {d['report']}" for d in unit["rejected"]]
    lines += [f"LATE      {path}" for path in unit["late"]]
    for line in lines:
        log.warning("%s", line)
    if unit["rejected"]:
        raise SystemExit(unit["label"] + ATTENTION_HINT)


def failed_task_instances(task_states: dict[str, str | None]) -> list[str]:
    """The task instances (``task_id`` or ``task_id_<map index>``, as Airflow's get_task_states names them) that
    failed, or did not run because one upstream of them failed."""
    return sorted(name for name, state in task_states.items() if state in ("failed", "upstream_failed"))


def raise_if_any_task_failed(task_states: dict[str, str | None]) -> None:
    """The run's health: green when every watched task instance ended well, red naming those that did not."""
    failed = failed_task_instances(task_states)
    if failed:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"halfsky itself failed in {len(failed)} task instance(s): {', '.join(failed)}; "
                                   "their red boxes and logs say why (rejected drops are needs_attention, not this)")
    log.info("every task of this run ended well (%d task instances): rejected drops, if any, are in needs_attention",
             len(task_states))
