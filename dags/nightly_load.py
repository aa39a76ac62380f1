"""nightly_load: landing zone -> validation -> raw, then the night's verdicts and alerts. Wiring only:
the work is in halfsky.orchestration.pipeline; the marts are built by build_marts when raw changes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from halfsky.ingest.batches import worker_slots
from halfsky.orchestration.dag_defaults import task_defaults
from halfsky.orchestration.assets import RAW

DOC = (Path(__file__).with_suffix(".md")).read_text(encoding="utf-8")


@dag(
    dag_id="nightly_load",
    description="Validate and load prefecture drops into raw; name every unit with a rejected or late drop",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=6),
    doc_md=DOC,
    tags=["halfsky", "ingest"],
    params={
        "prefecture": Param(None, type=["null", "string"], pattern=r"^\d{6}$", title="Prefecture (reporting unit)",
                            description="Only this reporting unit's drops, e.g. 654000. Empty: every unit."),
        "period": Param(None, type=["null", "string"], pattern=r"^\d{4}(-\d{2})?$", title="Period",
                        description="Only drops for this month (2026-09) or year (2026). Empty: every period."),
    },
    default_args=task_defaults(timedelta(hours=1)),
)
def nightly_load():
    @task
    def prepare_warehouse() -> dict:
        from halfsky.orchestration import pipeline
        return pipeline.prepare_warehouse()

    @task
    def discover_drops(params=None) -> list[dict]:
        from halfsky.orchestration import pipeline, run_context
        prefecture, period = run_context.drop_filter(params or {})
        return pipeline.discover_drops(as_of=run_context.as_of(get_current_context()), prefecture=prefecture,
                                       period=period)

    # One mapped task per batch of whole units (halfsky.ingest.batches; all unknown folders share one);
    # each drop is decided on its own, so a bad one never blocks another. Its label in the grid ends up
    # as the batch's night, e.g. "654000 伊犁哈萨克自治州: 2 rejected, 6 accepted". At most worker_slots() run at
    # once, whatever [core] parallelism allows the light tasks.
    @task(map_index_template="{{ verdict_label }}", retries=0, execution_timeout=timedelta(hours=2),
          max_active_tis_per_dag=worker_slots())
    def ingest_prefecture(batch: dict, run_id=None) -> dict:
        from halfsky.orchestration import pipeline, run_context
        context = get_current_context()
        context["verdict_label"] = pipeline.unit_label(batch["label"])  # if the task dies, the unit is still named
        outcome = pipeline.ingest_prefecture(batch, as_of=run_context.as_of(context), run_id=run_id)
        context["verdict_label"] = pipeline.night_label(outcome)
        return outcome

    @task(trigger_rule="all_done")
    def summarize(outcomes: list[dict] | None = None, run_id=None) -> dict:
        # all_done: the accepted drops of healthy units reach the marts even if one unit's task failed.
        from halfsky.orchestration import pipeline
        return pipeline.summarize_night(list(outcomes or []), run_id=run_id)

    @task(outlets=[RAW])
    def publish_raw(summary: dict, run_id=None) -> None:
        """Update halfsky_raw, which starts build_marts, with the as-of the marts must be built for.
        Skipped (no event, no rebuild) for a re-run from the form that decided no drop."""
        from airflow.sdk.exceptions import AirflowSkipException

        from halfsky.orchestration import pipeline, run_context
        context = get_current_context()
        if not pipeline.raw_changed(summary, context["dag_run"].run_type):
            raise AirflowSkipException("no drop was decided: raw is unchanged, the marts stay as they are")
        as_of = run_context.as_of(context)
        context["outlet_events"][RAW].extra = {"as_of": as_of.isoformat(), "run_id": run_id, **summary["drops"]}

    @task
    def purge_personal_data(run_id=None) -> dict:
        """Id numbers and names of drops older than the retention (variable personal_data_retention_months,
        default 36) leave raw; the marts keep every person under the same key."""
        from halfsky.orchestration import pipeline, run_context
        return pipeline.purge_personal_data(run_context.as_of(get_current_context()), run_id=run_id)

    @task(trigger_rule="all_done")
    def notify_night(run_id=None) -> dict:
        """Once per run: the rejected drops and the reports missing after their deadline, to every alert channel."""
        from halfsky.orchestration import pipeline, run_context
        from halfsky.orchestration.task_alerts import send_night_digest
        from halfsky.config.settings import warehouse_dsn

        context = get_current_context()
        sent = send_night_digest(warehouse_dsn(), run_id, run_context.as_of(context), run_url=pipeline.run_url(context))
        return {k: v for k, v in sent.items() if k != "missing"}  # the full list is in the digest, not in XCom

    @task(trigger_rule="all_done")
    def notify_units(run_id=None) -> dict:
        """Each unit, at its own addresses (Variable unit_emails), hears of its rejected and warned drops, once."""
        from halfsky.orchestration.unit_notices import send_unit_notices
        from halfsky.config.settings import warehouse_dsn

        return send_unit_notices(warehouse_dsn(), run_id)

    @task(trigger_rule="all_done")
    def units_needing_attention(outcomes: list[dict] | None = None) -> list[dict]:
        from halfsky.orchestration import pipeline
        return pipeline.needing_attention(list(outcomes or []))

    # Red boxes that name the units whose reports need someone tonight; the alert already went out,
    # so no failure callback. The run's own state stays for halfsky's health (see every_task_succeeded).
    @task(map_index_template="{{ task.op_kwargs['unit']['label'] }}", retries=0, on_failure_callback=None)
    def needs_attention(unit: dict) -> None:
        from halfsky.orchestration import pipeline
        pipeline.raise_if_needs_attention(unit)

    @task(trigger_rule="all_done")
    def night_done() -> None:
        """A leaf that succeeds after needs_attention, so rejected drops alone never mark the run failed."""

    @task(trigger_rule="all_done", retries=0)
    def every_task_succeeded(run_id=None) -> None:
        """The run's health, green or red: summarize runs whatever happened, so without this leaf a failure of
        halfsky itself (a store or warehouse error) could leave the run green. Rejected drops are not failures."""
        from halfsky.orchestration import pipeline

        context = get_current_context()
        ti = context["ti"]
        states = ti.get_task_states(dag_id=ti.dag_id, task_ids=sorted(context["task"].upstream_task_ids),
                                    run_ids=[run_id])
        pipeline.raise_if_any_task_failed(states.get(run_id, {}))

    prepared = prepare_warehouse()
    batches = discover_drops()
    outcomes = ingest_prefecture.expand(batch=batches)
    prepared >> batches
    summary = summarize(outcomes)
    published = publish_raw(summary)
    purged = purge_personal_data()
    summary >> purged
    digest = notify_night()
    summary >> digest
    told = notify_units()
    summary >> told
    attention = units_needing_attention(outcomes)
    needs_attention.expand(unit=attention) >> night_done()
    [prepared, batches, outcomes, summary, published, purged, digest, told, attention] >> every_task_succeeded()


nightly_load()
