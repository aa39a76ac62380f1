"""The dbt project as Airflow tasks (astronomer-cosmos): one dbt build, and a box per seed and model with its tests after it.

Cosmos' ``ExecutionMode.WATCHER``: the producer task ``dbt.dbt_producer_watcher`` runs one ``dbt build`` of
the whole project with dbt's own threads, and publishes each node's result as it finishes; every seed, model
and test then has a box of its own that reads that result. A failing model or test is a red box of its own,
and a cleared box reruns just that node (Cosmos runs it alone, as ``ExecutionMode.LOCAL`` would). One build
costs one dbt start and one parse instead of one per node (the demo's build_marts under `airflow dags test`:
230 s with a dbt run per box, 59 s now, against 17 s for one plain `dbt build`).

Cosmos leaves the boxes of a task group beside the producer, sensing while it runs. Here they follow it
(``producer_first``): the boxes then read a finished result at their first look, `airflow dags test` (which
runs one task at a time) cannot start a box before the build it waits for, and no box holds a worker slot
while dbt works. The first boxes run once the producer is done, whatever its state, so a failed model is
still a red box; ``check_person_key`` is the build's setup task, so nothing of the build runs when it fails.
Under the scheduler a box starts in the triggerer and, when its node passed, ends there without a worker
process (``halfsky.orchestration.dbt_box_trigger``).

The group is rendered from the manifest ``halfsky.orchestration.dbt_manifest`` writes at set-up
(``LoadMode.DBT_MANIFEST``: no dbt process while a DAG file is parsed) and takes its profile from the
``warehouse_db`` connection. The build runs as a dbt process of its own (``InvocationMode.SUBPROCESS``): the
task reads its JSON log on the other core, where dbt's events in the task's own process cost 14 s of 32.
A cleared box runs its node in the task's process (``InvocationMode.DBT_RUNNER``: no interpreter start).

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
from cosmos.constants import (PRODUCER_WATCHER_TASK_ID, ExecutionMode, InvocationMode, LoadMode, TestBehavior,
                              TestIndirectSelection)
from cosmos.operators.watcher import DbtConsumerWatcherSensor, DbtTestWatcherOperator
from cosmos.profiles import PostgresUserPasswordProfileMapping

from halfsky.orchestration.dbt_box_trigger import start_boxes_in_triggerer
from halfsky.orchestration.dbt_manifest import manifest_path
from halfsky.warehouse.dbt_runner import PROJECT_DIR
from halfsky.config.settings import WAREHOUSE_CONN_ID

AS_OF_TASK_ID = "resolve_as_of"
# dbt's threads in the one build: what the warehouse's 4 Airflow slots ran side by side before (airflow_runtime).
DBT_THREADS = 4


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

    from halfsky.warehouse.dbt_runner import night_env, person_key_options
    from halfsky.orchestration.run_context import full_checks
    from halfsky.config.settings import person_hmac_key, warehouse_dsn
    from halfsky.warehouse.roles import TRANSFORMER, with_role_option

    key = person_hmac_key()
    mask_secret(key.hex())
    as_of = context["ti"].xcom_pull(task_ids=AS_OF_TASK_ID)
    params = context.get("params") or {}
    asked = bool(params.get("full_checks") or params.get("full_refresh"))
    stamp = datetime.fromisoformat(as_of) if as_of else None
    night = night_env(stamp, full_checks(stamp, asked) if stamp else True)
    env = {**(operator.env or {}), **night, **person_key_options(key)}
    # dbt builds as the transformer role: it may read raw, never write it (halfsky.warehouse.roles).
    env["PGOPTIONS"] = with_role_option(warehouse_dsn(), TRANSFORMER, env["PGOPTIONS"])
    operator.env = env


def producer_first(group: DbtTaskGroup, setup: Any) -> None:
    """Run the group's one dbt build after ``setup``, and its first boxes after the build, whatever its state.

    ``setup`` becomes a setup task, which only the build follows directly: every box downstream of it then
    waits for it to succeed (Airflow's setup constraint) and is marked upstream_failed when it did not, and
    clearing a box runs the setup again before it. The boxes themselves need the build done, not
    successful (``all_done``), so a model that failed in it is a red box of its own."""
    from airflow.task.trigger_rule import TriggerRule

    producer = group.children[f"{group.group_id}.{PRODUCER_WATCHER_TASK_ID}"]
    roots = [root for root in group.get_roots() if root is not producer]
    setup.as_setup()
    setup >> producer
    for root in roots:
        producer >> root
        root.trigger_rule = TriggerRule.ALL_DONE
    # A test of several models has a box of its own (should_detach_multiple_parents_tests), which reads the
    # results the producer gathers per model; Cosmos 1.15 gathers none for such a test, and the box then
    # passes on "no information". Each is gathered as the only test of itself, so its box reads its verdict.
    detached = {task.model_unique_id for task in group if isinstance(task, DbtTestWatcherOperator)
                and str(task.model_unique_id).startswith("test.")}
    producer.tests_per_model = {**producer.tests_per_model, **{uid: [uid] for uid in detached}}


def dbt_task_group(setup: Any, group_id: str = "dbt", **task_group_kwargs: Any) -> DbtTaskGroup:
    """The group, after ``setup`` (the check that must pass before anything is built): see ``producer_first``."""
    path = manifest_path()
    if not path.exists():
        raise FileNotFoundError(f"no dbt manifest at {path}: run `make setup` (or `python -m halfsky.orchestration.dbt_manifest`)")
    group = DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(dbt_project_path=PROJECT_DIR, manifest_path=path, project_name="halfsky",
                                     partial_parse=True),
        profile_config=ProfileConfig(
            profile_name="halfsky", target_name="warehouse",
            profile_mapping=WarehouseProfileMapping(conn_id=WAREHOUSE_CONN_ID,
                                                    profile_args={"schema": "public", "threads": DBT_THREADS,
                                                                  "connect_timeout": 10}),
        ),
        execution_config=ExecutionConfig(
            dbt_executable_path=str(Path(sys.executable).with_name("dbt")),
            execution_mode=ExecutionMode.WATCHER,
            invocation_mode=InvocationMode.DBT_RUNNER,
            # A retried producer would only skip (Cosmos never runs a second build); a cleared box reruns its node.
            setup_operator_args={"retries": 0, "invocation_mode": InvocationMode.SUBPROCESS},
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
    producer_first(group, setup)
    start_boxes_in_triggerer([task for task in group if isinstance(task, DbtConsumerWatcherSensor)])
    return group
