"""How a night's due drops are split into mapped ingest tasks."""

from __future__ import annotations

from collections import defaultdict

# Mapped ingest tasks per run: far below Airflow's max_map_length (1024), whatever the landing tree holds.
MAX_BATCHES = 256
UNKNOWN_UNITS = "unknown"  # the batch of every folder that is not a reporting unit: rejected by path, one task


def batch_by_unit(paths: list[str], known_units: set[str] | frozenset[str]) -> list[dict]:
    """One batch per reporting unit, one for all unknown folders; past MAX_BATCHES, units share batches."""
    groups: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        unit = path.split("/")[0]
        groups[unit if unit in known_units else UNKNOWN_UNITS].append(path)
    batches = [{"label": unit, "paths": unit_paths} for unit, unit_paths in sorted(groups.items())]
    if len(batches) <= MAX_BATCHES:
        return batches
    shared = [batches[i::MAX_BATCHES] for i in range(MAX_BATCHES)]
    return [{"label": f"{group[0]['label']}+{len(group) - 1}", "paths": [p for b in group for p in b["paths"]]}
            for group in shared]
