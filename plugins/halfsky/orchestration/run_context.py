"""What a task needs from its Airflow run: the as-of time it works for, and the run's filters."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def _parse(value: Any) -> datetime:
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if stamp.tzinfo is None:
        raise ValueError(f"as_of must carry a time zone, e.g. 2026-10-21T02:00:00+08:00 (got {value!r})")
    return stamp


def as_of(context: dict) -> datetime:
    """The moment a run works for, never the wall clock.

    In order: the newest ``as_of`` of the asset events that triggered the run (the night
    whose drops changed raw), the ``as_of`` param an admin typed in the trigger form, the
    end of the run's data interval, its logical date, and last its ``run_after``.
    """
    stamps = [_parse(event.extra["as_of"])
              for events in (context.get("triggering_asset_events") or {}).values() for event in events
              if (event.extra or {}).get("as_of")]
    if stamps:
        return max(stamps)
    params = context.get("params") or {}
    if params.get("as_of"):
        return _parse(params["as_of"])
    for key in ("data_interval_end", "logical_date"):
        if context.get(key):
            return context[key]
    return context["dag_run"].run_after


def marts_as_of(context: dict, fallback: datetime) -> datetime:
    """The as-of the marts were last asked to be built for: the newest ``as_of`` among the raw asset's latest
    events (the task must list RAW in its inlets), else ``fallback``. A review answered weeks after the night
    that asked for it must not build the marts for that older moment."""
    from halfsky.orchestration.assets import RAW

    events = context["inlet_events"][RAW].ascending(False).limit(10)
    return max((_parse(e.extra["as_of"]) for e in events if (e.extra or {}).get("as_of")), default=fallback)


def full_checks(as_of: datetime, asked: bool = False) -> bool:
    """Whether the dbt data tests of a build check every row, or only the prefecture-periods the night changed.

    Every row once a week (when the as-of falls on a Sunday, Asia/Shanghai) and whenever asked
    (the build_marts form's full_checks or full_refresh); other nights check what changed.
    """
    from halfsky.contract.periods import SHANGHAI

    return bool(asked) or as_of.astimezone(SHANGHAI).isoweekday() == 7


def drop_filter(params: dict) -> tuple[str | None, str | None]:
    """The prefecture and period an admin asked to re-run (None: all)."""
    unit = (params.get("prefecture") or "").strip() or None
    period = (params.get("period") or "").strip() or None
    return unit, period
