"""Raw and fact tables partitioned by period (Postgres declarative partitioning, RANGE on the text ``period``).

A monthly period '2026-09' gets the partition ['2026-09', '2026-10'); an annual one '2026' gets ['2026', '2027')
(a table holds one kind: its form's). Partitions are made on demand, just before rows of a new period are
written, by ``reference.ensure_period_partition``: the loader calls it for raw before it opens a drop's
transaction, dbt's facts in their pre-hook (and when built whole). Every partitioned table also has a DEFAULT
partition, so a writer that forgot never loses a row; a period later given its own partition has its rows moved
out of the default first.

Why: a month-end writes into one month's partitions, so the nightly fold, VACUUM and the indexes it touches
are a month's size, not the history's; a query for a period reads that period's partitions; and a period past
retention can be detached or dropped whole (bench/partitioning.py measures these at 24+ months).
"""

from __future__ import annotations

import psycopg

from halfsky.warehouse.ddl import read_ddl

# Fact partitions live apart from the marts analysts browse: querying the parent needs no grant on them.
FACT_PARTITION_SCHEMA = "marts_partitions"

# The functions that make them, in sql/partitions.sql; ensure_schema runs it.
ENSURE_PERIOD_PARTITION = read_ddl("partitions.sql")


def ensure_raw_partitions(conn: psycopg.Connection, forms, period: str) -> None:
    """Each of ``forms``' raw table has a partition for ``period``, in a transaction of its own: making one
    locks the table, so it must never wait inside a drop's transaction (which holds the table already)."""
    tables = [f"raw.{name}" for name in forms]
    with conn.transaction():  # one round trip for all of them (a national month-end makes a thousand of these calls)
        conn.execute("select reference.ensure_period_partition(t::regclass, %s, 'raw') from unnest(%s::text[]) as t",
                     (period, tables))
