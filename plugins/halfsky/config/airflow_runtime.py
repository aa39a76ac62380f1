"""The Airflow settings halfsky's deployments share, as ``AIRFLOW__SECTION__KEY`` -> value, each with its reason.

The one source: ``make up`` (halfsky_dev.services) builds its environment from it, halfsky.ingest.batches
reads the parallelism from it, and tests/unit/test_airflow_runtime.py holds ``docker-compose.yml``'s shared
environment (``x-airflow-common``) and the Helm values (``deploy/kubernetes/values.yaml``, ``config:``) to it.
Change a value here, then there.

Only settings that are the same wherever halfsky runs, or differ on purpose (said below), belong here: not
addresses, paths, ports or secrets, which each deployment sets for itself.
"""

from __future__ import annotations

# Every process that runs build_marts' dbt tasks, `airflow dags test` included (halfsky_dev.devenv sets them for
# make demo and the tests too).
DBT_TASKS: dict[str, str] = {
    # Cosmos' watcher producer (halfsky.orchestration.dbt_task_group) would otherwise write every node's result
    # to an Airflow Variable as it finishes, for a producer killed without warning: that took a demo build from
    # 32 s to 138 s. Off, a failed build still hands its results over (a failure callback writes them once),
    # and a killed one leaves each box to rerun its own node when it runs: slower, never wrong.
    "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY": "False",
}

# Every deployment: make up, docker-compose.yml and the Helm values.
SHARED: dict[str, str] = {
    **DBT_TASKS,
    # Naive dates (the trigger form, the CLI) are read in Beijing time, where the prefectures are. The UI shows
    # each browser's own zone (User > Timezone): Airflow 3.3 has no server-side default for the UI.
    "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai",
    # Tasks at once. Most of a night's tasks are build_marts' boxes, which each read one node's result from the
    # dbt build and finish in under a second: with 4 slots they waited on the scheduler (build_marts 103 s under
    # make up on 2 cores, 68 s with 16; through Celery 126 s and 59 s). The heavy tasks have caps of their own:
    # ingest (halfsky.ingest.batches.worker_slots, 4 unless HALFSKY_INGEST_SLOTS says otherwise) and the one
    # dbt build. LocalExecutor forks this many workers up front, ~30 MB each.
    "AIRFLOW__CORE__PARALLELISM": "16",
    # Airflow's example DAGs would sit beside halfsky's in the UI and the metadata database.
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    # A DAG new to a deployment waits for someone to unpause it: a nightly load never starts by surprise.
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    # Airflow's simple auth manager: users and roles in one setting, passwords in a file only Airflow reads.
    "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
}

# What a task imports before it starts, imported once by the process its tasks are forked from: LocalExecutor's
# forkserver (FORKING) and each Celery worker (halfsky.orchestration.celery_config). Only modules that start no
# threads at import belong here (a fork keeps no threads).
TASK_PRELOAD = ("airflow.sdk.execution_time.task_runner", "halfsky.orchestration.pipeline",
                "halfsky.ingest.judging.suite_checks", "halfsky.orchestration.dbt_task_group", "dbt.cli.main")

# Where one process starts many tasks (LocalExecutor's scheduler, make up and docker-compose.yml).
FORKING: dict[str, str] = {
    # Each task is forked from a server that has imported the Task SDK, halfsky's ingest path and the dbt task
    # group already, instead of importing them itself: about 4 s less per task start on 2 cores (national
    # month-end 4.4 -> 3.3 min, bench/national_month_end.py); build_marts 76 -> 68 s with Cosmos and dbt.
    "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
    "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": ",".join(TASK_PRELOAD),
}

# Read by CeleryExecutor only: make up --executor celery, docker-compose.yml's celery profile.
CELERY: dict[str, str] = {
    # Redis hands an unacknowledged task to another worker after this long: longer than nightly_load's
    # dagrun_timeout (6 h), so a long ingest is never run twice at once.
    "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "21600",
    # Workers import what every task needs once, before they fork (halfsky.orchestration.celery_config).
    "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "halfsky.orchestration.celery_config.CELERY_CONFIG",
}

# Several Celery workers on one host (make up --executor celery) all have the host's name: each records
# `worker-N@<host>` instead, so the grid says which ran a task. Compose's workers are containers with a
# host name each, and Kubernetes' tasks are pods: they keep Airflow's default.
LOCAL_CELERY_WORKERS: dict[str, str] = {
    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "halfsky.orchestration.worker_identity.hostname",
}

# The Helm values (KubernetesExecutor): every task is a pod of its own, so there is no forkserver to preload
# (FORKING is not set) and no Celery; parallelism is how many task pods run at once.
KUBERNETES: dict[str, str] = {**SHARED, "AIRFLOW__CORE__PARALLELISM": "16"}

# docker-compose.yml: LocalExecutor by default, CeleryExecutor with its celery profile, one set of settings.
COMPOSE: dict[str, str] = {**SHARED, **FORKING, **CELERY}


def make_up(celery: bool = False) -> dict[str, str]:
    """What make up's services (and workers) run with, LocalExecutor or (``celery``) CeleryExecutor."""
    return {**SHARED, **FORKING, **(CELERY | LOCAL_CELERY_WORKERS if celery else {})}


PARALLELISM = int(SHARED["AIRFLOW__CORE__PARALLELISM"])
TIMEZONE = SHARED["AIRFLOW__CORE__DEFAULT_TIMEZONE"]
