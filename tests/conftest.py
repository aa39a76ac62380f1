"""Shared fixtures: a throw-away warehouse database per test worker, on the server `make test` found.

A test's lane is its folder, set here as a marker (``-m unit`` and so on):

- ``tests/unit``: needs no database and no Airflow (``make check``);
- ``tests/warehouse``: Postgres and dbt;
- ``tests/airflow``: a real Airflow run (``dag.test``, ``airflow dags test``);
- ``tests/deploy``: services started as a deployment would (``make up``, Celery workers, the bench).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from databases import throwaway_database

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_CODES = REPO_ROOT.parent / "shared" / "contract" / "codes"


LANES = ("unit", "warehouse", "airflow", "deploy")


def pytest_collection_modifyitems(config, items):
    tests_dir = Path(__file__).parent
    for item in items:
        lane = item.path.relative_to(tests_dir).parts[0]
        if lane in LANES:
            item.add_marker(lane)


def _admin_dsn() -> str:
    dsn = os.environ.get("HALFSKY_ADMIN_DSN")
    if not dsn:
        pytest.exit("HALFSKY_ADMIN_DSN is not set: run the tests with `make test`", returncode=2)
    return dsn


@pytest.fixture(scope="session")
def admin_dsn() -> str:
    return _admin_dsn()


@pytest.fixture(scope="session")
def fresh_database(admin_dsn):
    """Make a throw-away database: ``with fresh_database("label", schema=True) as dsn:`` (tests/databases.py);
    dropped when the block ends. A module that needs a warehouse of its own asks for this."""
    return functools.partial(throwaway_database, admin_dsn)


@pytest.fixture(scope="session")
def warehouse(fresh_database) -> str:
    """A fresh database holding the pipeline's schemas, shared by the session; dropped at its end."""
    with fresh_database("test", schema=True) as dsn:
        yield dsn


@pytest.fixture(scope="session")
def dimensions(warehouse) -> str:
    """The warehouse with reference data loaded and the dimensions built by dbt."""
    from halfsky.orchestration import pipeline
    pipeline.prepare_warehouse(warehouse)
    pipeline.build_dimensions(warehouse)
    return warehouse


@pytest.fixture(scope="session")
def airflow_env(warehouse, tmp_path_factory) -> dict[str, str]:
    """An Airflow home with SQLite metadata, pointed at the test warehouse."""
    from halfsky_dev.devenv import TELEMETRY_OFF, airflow_env as base_env

    home = tmp_path_factory.mktemp("airflow")
    env = {
        **os.environ,
        **base_env(home, f"sqlite:///{home / 'airflow.db'}"),
        **TELEMETRY_OFF,
        "AIRFLOW_CONN_WAREHOUSE_DB": warehouse,
    }
    subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], env=env, check=True,
                   capture_output=True)
    return env
