"""Run the pipeline's ingest steps directly (no Airflow) over a generated landing tree."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from halfsky.ingest import pending_work, process_prefecture
from halfsky.sample.__main__ import main as generate

AS_OF = datetime.fromisoformat("2026-10-21T00:00:00+08:00")


def make_tree(base: Path, *args: str) -> tuple[Path, dict]:
    root = base / "landing"
    truth_path = base / "truth.json"
    assert generate([str(root), "--truth", str(truth_path), *args]) == 0
    return root, json.loads(truth_path.read_text(encoding="utf-8"))


def ingest_all(dsn: str, root: Path, quarantine: Path, as_of: datetime = AS_OF) -> dict:
    work, skipped = pending_work(dsn, str(root), as_of)
    outcomes = {}
    for batch in work:
        outcomes[batch["label"]] = process_prefecture(dsn, str(root), str(quarantine), batch["paths"], as_of=as_of)
    return {"work": work, "skipped": skipped, "outcomes": outcomes}
