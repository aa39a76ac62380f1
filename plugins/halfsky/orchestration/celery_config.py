"""Celery settings for halfsky's workers ([celery] celery_config_options): Airflow's own, plus a preload.

A Celery worker runs each task in a process forked from its pool, so what the worker has imported, every task
has already. A worker imports here what each task would import itself, the Task SDK's runner, halfsky's ingest
path and the dbt task group (Cosmos and dbt): halfsky.config.airflow_runtime.TASK_PRELOAD, which LocalExecutor's
forkserver preloads too. That is about 3-5 s per task on 2 cores. Only in `airflow celery worker`: the
scheduler, which reads this module too, does not need them.
"""

from __future__ import annotations

import importlib
import sys

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

from halfsky.config.airflow_runtime import TASK_PRELOAD

CELERY_CONFIG_OPTIONS = "halfsky.orchestration.celery_config.CELERY_CONFIG"


def _is_worker(argv: list[str]) -> bool:
    return "celery" in argv and "worker" in argv


if _is_worker(sys.argv):
    for module in TASK_PRELOAD:
        importlib.import_module(module)

CELERY_CONFIG = dict(DEFAULT_CELERY_CONFIG)
