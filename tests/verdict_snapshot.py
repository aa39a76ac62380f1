"""Every verdict of a landing tree as plain data: status, each finding, and a digest of the values each
form would load. Issue 9 rewrote typing and validation for speed; tests/golden/ holds this snapshot as the
code before the rewrite gave it, and test_verdict_parity checks the new path gives it unchanged."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from halfsky.ingest.judging.judge import judge_drop


def landing_drops(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*/*") if not p.name.startswith("."))


def verdict_snapshot(root: Path, as_of: datetime) -> dict[str, dict]:
    snapshot = {}
    for drop in landing_drops(root):
        unit, period = drop.parts[-3], drop.parts[-2]
        verdict = judge_drop(drop, unit, period, received_at=as_of, as_of=as_of)
        snapshot[f"{unit}/{period}/{drop.name}"] = {
            "status": verdict.status,
            "row_counts": verdict.row_counts(),
            "findings": [[f.rule, f.severity, f.form, f.row_number, f.field, f.value, f.detail] for f in verdict.findings],
            "values": {name: _digest(typed) for name, typed in sorted(verdict.forms.items())},
        }
    return snapshot


def _digest(typed) -> str:
    """sha256 over every loaded value's repr, row by row: a changed cent, date or unit shows."""
    h = hashlib.sha256()
    for row in typed.load_rows():
        h.update(repr(tuple(row)).encode())
    return h.hexdigest()
