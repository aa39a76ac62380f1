"""The warehouse's Airflow Assets: ``raw`` (loaded drops), ``reviews`` (the province's word on each
unit-period) and ``marts`` (what analysts read).

nightly_load and replay_quarantined update ``raw``; review_periods and reopen_period update ``reviews``
when an approval, return, reopening or automatic close is recorded. build_marts is scheduled on either and
updates ``marts``, so a replayed drop or an approval reaches the marts without waiting for the night.
Each event carries the as-of time the marts are to be built for (a ``raw`` event: the moment its drops were
judged at; a ``reviews`` event: the newest ``raw`` event's), never the wall clock.
"""

from __future__ import annotations

from airflow.sdk import Asset, AssetAlias

RAW = Asset(uri="halfsky://warehouse/raw", name="halfsky_raw", group="halfsky")
REVIEWS = Asset(uri="halfsky://warehouse/audit/period_reviews", name="halfsky_reviews", group="halfsky")
# For a task that updates REVIEWS only sometimes (the automatic close, most nights nothing): an alias gets an
# event only when the task adds one, where a plain outlet gets one on every success.
REVIEWS_WHEN_ANY = AssetAlias(name="halfsky_reviews_when_any", group="halfsky")
MARTS = Asset(uri="halfsky://warehouse/marts", name="halfsky_marts", group="halfsky")
