"""How a night's due drops are split into mapped ingest tasks.

Every mapped task pays a start-up before its first drop: a forked process, the DAG file, halfsky's
imports and its libraries' (seconds on a 2-core machine, more than a small prefecture's whole month
takes to judge and load). So units share tasks: a batch holds whole reporting units, taken in code
order, until it weighs about ``target``; a unit heavier than that has a batch of its own. A drop weighs
its bytes plus DROP_OVERHEAD_BYTES (hashing, the submission log, its commit), so many tiny drops count too.

The number of batches follows from the night's weight: one per MIN_BATCH_BYTES or so (never more tasks
than their start-ups are worth), rounded up to a multiple of the worker slots once there are at least
that many (so the last round of tasks fills every slot), and never more than MAX_BATCHES. Every folder
that is no reporting unit goes to one batch of its own, ``unknown`` (rejected by path, each drop).

A batch's label is what the grid shows as its mapped task's name (nightly_load's map_index_template,
through pipeline.unit_label and night_label): the unit's code for a batch of one unit, which the grid
names "654000 伊犁哈萨克自治州"; for several, the first and last unit and how many, e.g.
"130100 石家庄市 … 131100 衡水市 (11 units)". Heaviest batches come first (lowest map index), so the
scheduler starts them first and a big unit does not run alone at the end of the night.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Callable, Mapping

# Mapped ingest tasks per run: far below Airflow's max_map_length (1024), whatever the landing tree holds.
MAX_BATCHES = 256
UNKNOWN_UNITS = "unknown"  # the batch of every folder that is not a reporting unit: rejected by path, one task
# A batch worth a task's start-up: at this size the work takes several times longer than the start-up.
MIN_BATCH_BYTES = 24 << 20
# Another size for a site whose workers start faster or slower than this machine's; 1 gives every unit a task.
BATCH_BYTES_ENV = "HALFSKY_INGEST_BATCH_BYTES"
# What a drop costs beyond its bytes, in bytes of work: a batch of 200 empty drops still weighs 50 MB.
DROP_OVERHEAD_BYTES = 256 << 10
# Ingest tasks at once. Each reads, judges and COPYs drops, CPU and disk bound: a 2-core machine loads a night
# no faster with more than 4. [core] parallelism is higher, for build_marts' light boxes
# (halfsky.config.airflow_runtime). A site with more cores, or task pods, sets HALFSKY_INGEST_SLOTS.
DEFAULT_SLOTS = 4
SLOTS_ENV = "HALFSKY_INGEST_SLOTS"

Sizes = Mapping[str, int] | Callable[[str], int] | None


def worker_slots() -> int:
    """How many ingest tasks run at once: HALFSKY_INGEST_SLOTS where it is a positive whole number, else
    DEFAULT_SLOTS. nightly_load caps its ingest task to it (max_active_tis_per_dag), and a night's batches are
    rounded to it, so the dag-processor and the tasks must see the same value."""
    try:
        return max(1, int(os.environ[SLOTS_ENV]))
    except (KeyError, ValueError):
        return DEFAULT_SLOTS


def min_batch_bytes() -> int:
    """MIN_BATCH_BYTES, or HALFSKY_INGEST_BATCH_BYTES where it is set to a positive whole number."""
    try:
        return max(1, int(os.environ[BATCH_BYTES_ENV]))
    except (KeyError, ValueError):
        return MIN_BATCH_BYTES


def _size_of(sizes: Sizes, path: str) -> int:
    """A drop's bytes, 0 when unknown (gone since it was listed, or no sizes given): sizes only steer batching."""
    if sizes is None:
        return 0
    try:
        size = sizes.get(path, 0) if isinstance(sizes, Mapping) else sizes(path)
    except Exception:  # noqa: BLE001
        return 0
    return max(int(size or 0), 0)


def _name(known_units, unit: str) -> str:
    """'150100 呼和浩特市' when ``known_units`` maps codes to units with a name_zh, else the code."""
    name = getattr(known_units.get(unit), "name_zh", None) if isinstance(known_units, Mapping) else None
    return f"{unit} {name}" if name else unit


def batch_count(weight: int, slots: int) -> int:
    """Batches for a night of ``weight``: one per MIN_BATCH_BYTES, rounded up to a multiple of ``slots``
    once there are that many, at most the multiple of ``slots`` that fits in MAX_BATCHES - 1."""
    wanted = max(1, math.ceil(weight / min_batch_bytes()))
    if wanted < slots:
        return wanted
    ceiling = max(slots, (MAX_BATCHES - 1) // slots * slots) if slots < MAX_BATCHES else MAX_BATCHES - 1
    return min(math.ceil(wanted / slots) * slots, ceiling)


def _pack(units: list[tuple[str, int]], target: float) -> list[list[tuple[str, int]]]:
    """Units in code order into batches of about ``target``: a batch takes the next unit while that brings
    it nearer the target; a unit of ``target`` or more is a batch alone."""
    batches: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    weight = 0
    for unit, cost in units:
        if cost >= target:
            if current:
                batches.append(current)
            batches.append([(unit, cost)])
            current, weight = [], 0
            continue
        if current and abs(weight + cost - target) > abs(weight - target):
            batches.append(current)
            current, weight = [], 0
        current.append((unit, cost))
        weight += cost
    if current:
        batches.append(current)
    return batches


def batch_by_unit(paths: list[str], known_units: Mapping | set[str] | frozenset[str], sizes: Sizes = None,
                  slots: int | None = None) -> list[dict]:
    """Batches ({"label", "paths"}) of whole reporting units, weighed by their drops' sizes; one for all unknown folders.

    ``known_units``: the reporting units' codes, or reference_data().units (code -> unit) for labels with names.
    ``sizes``: each path's bytes, a mapping or a function (Landing.get(path).size); without them every drop
    weighs DROP_OVERHEAD_BYTES. ``slots``: ingest tasks that run at once (default: worker_slots()).
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        unit = path.split("/")[0]
        groups[unit if unit in known_units else UNKNOWN_UNITS].append(path)
    unknown = groups.pop(UNKNOWN_UNITS, None)
    units = [(unit, sum(_size_of(sizes, p) + DROP_OVERHEAD_BYTES for p in groups[unit])) for unit in sorted(groups)]
    batches: list[dict] = []
    if units:
        slots = slots or worker_slots()
        weight = sum(cost for _, cost in units)
        target = weight / batch_count(weight, slots)
        big = [cost for _, cost in units if cost >= target]
        if big:  # alone each; the rest shares the other batches, the whole a multiple of the slots again
            rest = weight - sum(big)
            total = len(big) + (math.ceil(rest / min_batch_bytes()) if rest else 0)
            if total >= slots:
                total = min(math.ceil(total / slots) * slots, MAX_BATCHES - 1)
            target = min(target, rest / max(1, total - len(big))) if rest else target
        packed = _pack(units, target)
        while len(packed) > MAX_BATCHES - 1:  # only with many units of about the target each; never in practice
            target *= 1.25
            packed = _pack(units, target)
        for group in sorted(packed, key=lambda g: -sum(cost for _, cost in g)):
            codes = [unit for unit, _ in group]
            label = codes[0] if len(codes) == 1 else \
                f"{_name(known_units, codes[0])} … {_name(known_units, codes[-1])} ({len(codes)} units)"
            batches.append({"label": label, "paths": [p for unit in codes for p in groups[unit]]})
    if unknown:
        batches.append({"label": UNKNOWN_UNITS, "paths": unknown})
    return batches
