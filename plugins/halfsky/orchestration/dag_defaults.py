"""What every halfsky task gets unless it says otherwise: a retry, a timeout and the alert callbacks."""

from __future__ import annotations

from datetime import timedelta

from halfsky.orchestration.alert_callbacks import on_task_failure, on_task_retry


def task_defaults(execution_timeout: timedelta, retries: int = 1) -> dict:
    return {
        "retries": retries,
        "retry_delay": timedelta(minutes=2),
        "execution_timeout": execution_timeout,
        "on_failure_callback": on_task_failure,
        "on_retry_callback": on_task_retry,
    }
