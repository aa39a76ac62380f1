"""The warehouse's two Airflow Assets: ``raw`` (loaded drops) and ``marts`` (what analysts read).

nightly_load and replay_quarantined update ``raw``; build_marts is scheduled on it and
updates ``marts``, so a replayed drop reaches the marts without waiting for the night.
Each ``raw`` event carries the as-of time its drops were judged at, so the marts are
built for the same moment (never the wall clock).
"""

from __future__ import annotations

from airflow.sdk import Asset

RAW = Asset(uri="halfsky://warehouse/raw", name="halfsky_raw", group="halfsky")
MARTS = Asset(uri="halfsky://warehouse/marts", name="halfsky_marts", group="halfsky")
