"""The steps of the nightly load, independent of Airflow so they can be run and tested alone.

Each step takes what it needs explicitly (the run's data interval, never the
wall clock), so rerunning a day gives the same warehouse.
"""

from __future__ import annotations

import logging

from halfsky.dbt_runner import run_dbt
from halfsky.reference.load import load_admin_divisions
from halfsky.warehouse import ensure_schema

log = logging.getLogger(__name__)

DIMENSIONS = ("dim_date", "dim_region", "dim_program", "dim_fund_source", "dim_beneficiary_group")


def prepare_warehouse(dsn: str | None = None) -> dict:
    """Schemas, the submission log, raw tables and national division codes."""
    ensure_schema(dsn)
    divisions = load_admin_divisions(dsn)
    return {"divisions": divisions}


def build_dimensions(dsn: str | None = None) -> None:
    """Seed the code lists and build the dimensions, with their dbt tests."""
    run_dbt(["build", "--select", "resource_type:seed", *(f"+{d}" for d in DIMENSIONS)], dsn=dsn)
