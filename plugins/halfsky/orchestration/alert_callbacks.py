"""Task callbacks the DAG files name at parse time; the alerting code (``task_alerts``) is imported
only when one fires."""

from __future__ import annotations


def on_task_failure(context: dict) -> None:
    from halfsky.orchestration.task_alerts import task_failure_alert

    task_failure_alert(context)


def on_task_retry(context: dict) -> None:
    from halfsky.orchestration.task_alerts import task_retry_alert

    task_retry_alert(context)
