"""The dbt project as Airflow tasks (astronomer-cosmos): one task per seed and model, its tests right after it.

A failing model or test is then a red box of its own in the grid, and a cleared box
reruns just that node. The group is rendered from the manifest ``halfsky.orchestration.dbt_manifest``
writes at set-up (``LoadMode.DBT_MANIFEST``: no dbt process while a DAG file is parsed),
runs dbt in the worker's process (``InvocationMode.DBT_RUNNER``: no interpreter start per
node) and takes its profile from the ``warehouse_db`` connection.

What must not be rendered into a task's fields, where the UI shows them, is set by an
interceptor when the task runs: the person key (as a Postgres session setting, exactly as
``halfsky.warehouse.dbt_runner`` does), the as-of date the incremental facts are built for, and whether the
tests check every row (``full_checks``: Sundays and when the form asks) or the night's changes.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior, TestIndirectSelection
from cosmos.profiles import PostgresUserPasswordProfileMapping

from halfsky.orchestration.dbt_manifest import manifest_path
from halfsky.warehouse.dbt_runner import PROJECT_DIR
from halfsky.config.settings import WAREHOUSE_CONN_ID

AS_OF_TASK_ID = "resolve_as_of"


class WarehouseProfileMapping(PostgresUserPasswordProfileMapping):
    """The ``warehouse_db`` connection as a dbt profile; a password is optional (peer, trust or .pgpass)."""

    required_fields = ["host", "user", "dbname"]

    @property
    def profile(self) -> dict[str, Any | None]:
        profile = super().profile
        if not self.conn.password:
            profile["password"] = ""  # dbt-postgres requires the key; libpq then uses its own means
        return profile

    @property
    def env_vars(self) -> dict[str, str]:
        return super().env_vars if self.conn.password else {}


def run_settings(context: dict, operator: Any) -> None:
    """Cosmos interceptor, run inside the task just before dbt: the person key, the as-of date, full_checks."""
    from airflow.sdk.log import mask_secret

    from halfsky.warehouse.dbt_runner import as_of_vars, person_key_options
    from halfsky.orchestration.run_context import full_checks
    from halfsky.config.settings import person_hmac_key, warehouse_dsn
    from halfsky.warehouse.roles import TRANSFORMER, with_role_option

    key = person_hmac_key()
    mask_secret(key.hex())
    env = {**(operator.env or {}), **person_key_options(key)}
    # dbt builds as the transformer role: it may read raw, never write it (halfsky.warehouse.roles).
    env["PGOPTIONS"] = with_role_option(warehouse_dsn(), TRANSFORMER, env["PGOPTIONS"])
    operator.env = env
    as_of = context["ti"].xcom_pull(task_ids=AS_OF_TASK_ID)
    params = context.get("params") or {}
    asked = bool(params.get("full_checks") or params.get("full_refresh"))
    if as_of:
        stamp = datetime.fromisoformat(as_of)
        operator.vars = {**(operator.vars or {}), **as_of_vars(stamp), "full_checks": full_checks(stamp, asked)}
    else:
        operator.vars = {**(operator.vars or {}), "full_checks": True}


def dbt_task_group(group_id: str = "dbt", **task_group_kwargs: Any) -> DbtTaskGroup:
    path = manifest_path()
    if not path.exists():
        raise FileNotFoundError(f"no dbt manifest at {path}: run `make setup` (or `python -m halfsky.orchestration.dbt_manifest`)")
    return DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(dbt_project_path=PROJECT_DIR, manifest_path=path, project_name="halfsky",
                                     partial_parse=True),
        profile_config=ProfileConfig(
            profile_name="halfsky", target_name="warehouse",
            profile_mapping=WarehouseProfileMapping(conn_id=WAREHOUSE_CONN_ID,
                                                    profile_args={"schema": "public", "threads": 4, "connect_timeout": 10}),
        ),
        execution_config=ExecutionConfig(
            dbt_executable_path=str(Path(sys.executable).with_name("dbt")),
            invocation_mode=InvocationMode.DBT_RUNNER,
            # A test of several models (relationships, reconciliation to raw) is left to its own task...
            test_indirect_selection=TestIndirectSelection.CAUTIOUS,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_EACH,
            # ...which waits for all of its models.
            should_detach_multiple_parents_tests=True,
            emit_datasets=False,  # halfsky publishes its own two assets
            enable_mock_profile=False,
        ),
        operator_args={
            "install_deps": False,
            "interceptors": [run_settings],
            "full_refresh": "{{ params.full_refresh }}",
        },
        **task_group_kwargs,
    )
