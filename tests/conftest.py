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

from databases import template_database, throwaway_database

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_CODES = REPO_ROOT.parent / "shared" / "contract" / "codes"


LANES = ("unit", "warehouse", "airflow", "deploy")


# The order modules reach xdist's workers: the longest lanes first (the Celery night alone is minutes), so
# no worker starts a long module while the others have nothing left to do. Within a lane, collection order.
# xdist keeps it only with --no-loadscope-reorder (`make test`): by default it hands out the modules with the
# most tests first, which put the Celery night (2 tests) near the end.
LANE_ORDER = ("deploy", "airflow", "warehouse", "unit")


# Modules xdist must give to one worker, by the group they share: the dag site (tests/dag_site.py) is two minutes
# of Airflow runs, built once per worker that asks for it, so its modules go to the same worker.
SAME_WORKER = {"tests/airflow/test_idempotency.py": "dag_site", "tests/airflow/test_secrets.py": "dag_site",
               "tests/airflow/test_id_masking.py": "dag_site"}


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` (make test), but SAME_WORKER's modules as one unit of work. xdist's own `loadgroup`
    would do it by marker, but under pytest 9.2 it groups nothing (it rewrites node ids to carry the group)."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LoadFileWithGroups(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = super()._split_scope(nodeid)
            return SAME_WORKER.get(module, module)

    return LoadFileWithGroups(config, log)


def pytest_collection_modifyitems(config, items):
    tests_dir = Path(__file__).parent

    def lane_of(item) -> str:
        return item.path.relative_to(tests_dir).parts[0]

    for item in items:
        if lane_of(item) in LANES:
            item.add_marker(lane_of(item))
    items.sort(key=lambda item: LANE_ORDER.index(lane_of(item)) if lane_of(item) in LANE_ORDER else len(LANE_ORDER))


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
    dropped when the block ends. A module that needs a warehouse of its own asks for this; one that needs the
    dimensions built too asks for a copy: ``fresh_database("label", template=dimensions_template)``."""
    return functools.partial(throwaway_database, admin_dsn)


@pytest.fixture(scope="session")
def warehouse(fresh_database) -> str:
    """A fresh database holding the pipeline's schemas, shared by the session; dropped at its end."""
    with fresh_database("test", schema=True) as dsn:
        yield dsn


def _build_dimensions(dsn: str) -> None:
    import psycopg
    from halfsky.orchestration import pipeline

    pipeline.prepare_warehouse(dsn)
    pipeline.build_dimensions(dsn)
    with psycopg.connect(dsn) as conn:  # so one template serves every person key (ingest_helpers.keyed_warehouse)
        assert conn.execute("select count(*) from ingest.person_key").fetchone()[0] == 0, \
            "building the dimensions recorded a person key"


@pytest.fixture(scope="session")
def dimensions_template(admin_dsn):
    """The starting warehouse most modules build (``pipeline.prepare_warehouse``: schema, roles, reference data;
    ``pipeline.build_dimensions``: dbt's seeds and dimensions), built once per test worker and kept as a Postgres
    template: ``fresh_database("label", template=dimensions_template)`` copies it in about a second
    (tests/databases.py says what a copy carries). The dimensions depend on no person key: the key is only read,
    and its fingerprint recorded, when the marts are built."""
    with template_database(admin_dsn, "dims_template", _build_dimensions) as template:
        yield template


@pytest.fixture(scope="session")
def dimensions(fresh_database, dimensions_template) -> str:
    """A warehouse with reference data loaded and the dimensions built by dbt, shared by the session (a copy of
    ``dimensions_template``); dropped at its end."""
    with fresh_database("dims", template=dimensions_template) as dsn:
        yield dsn


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
