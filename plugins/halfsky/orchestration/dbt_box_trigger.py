"""build_marts' boxes read their node's result in the triggerer, without a worker process of their own.

Each box after Cosmos' one dbt build (``halfsky.orchestration.dbt_task_group``) only reads what the build
published for its node. As a task of its own that was a forked worker process, a parse of the DAG file and
Cosmos' render of the group, about 1.5 CPU-seconds a box on the 2-core machine, 120 times a night: most of a
nothing-new build_marts under the scheduler. Airflow's ``start_from_trigger`` sends the box straight to the
triggerer instead; this trigger reads the result there (Cosmos' own ``WatcherTrigger``) and ends the box:

- the node passed: the box is green (``TaskSuccessEvent``); its log says so, and the producer's log has dbt's;
- dbt skipped it: the box is skipped (``TaskSkippedEvent``);
- anything else (a failed model or test, a build that failed before reaching it): the box resumes on a worker
  in Cosmos' ``execute_complete``, so the box is red with Cosmos' message, retries and halfsky's alert
  callbacks, exactly as before;
- a cleared or retried box (try 2 and later) resumes on a worker at once, where Cosmos runs its node alone.

``airflow dags test`` runs every task in its own process and never asks the triggerer: there the boxes run as
Cosmos' sensors, with the same verdicts.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import StartTriggerArgs, TaskSkippedEvent, TaskSuccessEvent, TriggerEvent
from cosmos.listeners.dag_run_listener import EventStatus
from cosmos.operators._watcher.aggregation import get_tests_status_xcom_key
from cosmos.operators._watcher.state import is_dbt_node_status_skipped, is_dbt_node_status_success
from cosmos.operators._watcher.triggerer import WatcherEventReason, WatcherTrigger

CLASSPATH = f"{__name__}.BoxResultTrigger"
log = logging.getLogger(__name__)


class BoxResultTrigger(WatcherTrigger):
    """Cosmos' watcher trigger for a box started in the triggerer: the run comes from the box's task instance."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return CLASSPATH, kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        ti = getattr(self, "task_instance", None)
        if ti is not None:  # started from the triggerer: the kwargs were fixed when the DAG was parsed
            self.run_id = ti.run_id
        if ti is None or ti.try_number > 1:
            # Resume on a worker: Cosmos' execute_complete then runs the node alone, as a cleared box does.
            yield TriggerEvent({"status": EventStatus.FAILED, "reason": WatcherEventReason.PRODUCER_SKIPPED})
            return
        # The build is done when a box starts (dbt_task_group.producer_first): read its verdict once. Each read
        # is a round trip to the API server, so not Cosmos' dbt version lines or compiled SQL.
        status = await self._read_status()
        if is_dbt_node_status_success(status) or is_dbt_node_status_skipped(status):
            what = f"{self.model_unique_id}'s tests" if self.is_test_sensor else self.model_unique_id
            log.info("%s: %s in the build of %s, whose log has dbt's output", what, status, self.producer_task_id)
            yield TaskSuccessEvent() if is_dbt_node_status_success(status) else TaskSkippedEvent()
            return
        async for event in super().run():  # failed, or no verdict: Cosmos' own trigger decides the event
            yield event
            return

    async def _read_status(self) -> Any:
        if self.is_test_sensor:
            return await self.get_xcom_val(get_tests_status_xcom_key(self.model_unique_id))
        return await self._get_node_status()


def start_boxes_in_triggerer(boxes: list[Any]) -> None:
    """Send each watcher box straight to the triggerer when the scheduler starts it (``start_from_trigger``)."""
    for box in boxes:
        box.start_trigger_args = StartTriggerArgs(
            trigger_cls=CLASSPATH,
            trigger_kwargs={"model_unique_id": box.model_unique_id, "producer_task_id": box.producer_task_id,
                            "dag_id": box.dag_id, "run_id": "", "map_index": -1,
                            "poke_interval": box.poke_interval, "is_test_sensor": box.is_test_sensor},
            next_method="execute_complete", next_kwargs=None, timeout=None)
        box.start_from_trigger = True
