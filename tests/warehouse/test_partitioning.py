"""raw partitioned by period: a warehouse made before keeps every row, and partitions are made as months arrive.

The facts' partitions are checked after a real build in test_marts.py; bench/partitioning.py measures both."""

from __future__ import annotations


import psycopg
import pytest

from halfsky.contract.forms import FORMS, PG_TYPES


@pytest.fixture
def scratch(fresh_database):
    with fresh_database("partitions") as dsn:
        yield dsn


def _partitions(conn, table: str) -> dict[str, int]:
    """{bound: rows} of each partition of ``table``."""
    return {bound: conn.execute(f"select count(*) from {oid}").fetchone()[0] for bound, oid in conn.execute(
        """select pg_get_expr(c.relpartbound, c.oid), c.oid::regclass::text
           from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = %s::regclass""", (table,)).fetchall()}


def test_a_warehouse_from_before_partitioning_keeps_every_raw_row_under_its_period(scratch):
    from halfsky.warehouse.schema import ensure_schema

    ensure_schema(scratch)
    with psycopg.connect(scratch) as conn:  # raw as ensure_schema made it before it was partitioned
        for form in FORMS.values():
            columns = ", ".join(f"{f.name} {PG_TYPES[f.kind]}" for f in form.fields)
            conn.execute(f"drop table raw.{form.name}")
            conn.execute(f"create table raw.{form.name} (submission_id bigint not null, row_number int not null, {columns})")
            conn.execute(f"create index {form.name}_submission on raw.{form.name} (submission_id)")
        for unit, period in (("150100", "2026-08"), ("150100", "2026-09"), ("150200", "2026")):
            conn.execute("""insert into ingest.submissions (prefecture_code, period, drop_name, drop_path, format, size_bytes,
                                received_at, first_seen_at, status)
                            values (%s, %s, 'x.json', %s, 'json', 1, now(), now(), 'accepted')""",
                         (unit, period, f"{unit}/{period}/x.json"))
        conn.execute("insert into raw.activity (submission_id, row_number, region_code, events) "
                     "select 1 + j % 2, j, '150102', j from generate_series(1, 10) as j")
        conn.execute("insert into raw.targets (submission_id, row_number, program_code) values (3, 2, 'P01')")
        conn.execute("insert into raw.activity (submission_id, row_number, region_code) values (99, 2, '150102')")
    ensure_schema(scratch)
    with psycopg.connect(scratch) as conn:
        assert conn.execute("select relkind from pg_class where oid = 'raw.activity'::regclass").fetchone()[0] == "p"
        assert _partitions(conn, "raw.activity") == {
            "FOR VALUES FROM ('2026-08') TO ('2026-09')": 5, "FOR VALUES FROM ('2026-09') TO ('2026-10')": 5,
            "DEFAULT": 1}  # the row whose submission is gone is kept, apart
        assert _partitions(conn, "raw.targets") == {"FOR VALUES FROM ('2026') TO ('2027')": 1, "DEFAULT": 0}
        assert conn.execute("select sum(events) from raw.activity").fetchone()[0] == 55
        assert conn.execute("select to_regclass('raw.activity_before_partitioning')").fetchone()[0] is None
    ensure_schema(scratch)  # and again: nothing moves twice
    with psycopg.connect(scratch) as conn:
        assert conn.execute("select count(*) from raw.activity").fetchone()[0] == 11


def test_a_new_month_gets_its_partition_once_and_strays_leave_the_default(scratch):
    from halfsky.warehouse.partitions import ensure_raw_partitions
    from halfsky.warehouse.schema import ensure_schema

    ensure_schema(scratch)
    with psycopg.connect(scratch, autocommit=True) as conn:
        # a writer that did not make the partition first: its row waits in the default partition
        conn.execute("insert into raw.funds (submission_id, row_number, period) values (7, 2, '2026-11')")
        ensure_raw_partitions(conn, ["funds", "activity"], "2026-11")
        ensure_raw_partitions(conn, ["funds"], "2026-11")
        assert _partitions(conn, "raw.funds") == {"FOR VALUES FROM ('2026-11') TO ('2026-12')": 1, "DEFAULT": 0}
        assert "FOR VALUES FROM ('2026-11') TO ('2026-12')" in _partitions(conn, "raw.activity")
        with pytest.raises(psycopg.errors.RaiseException, match="neither YYYY-MM nor YYYY"):
            conn.execute("select reference.ensure_period_partition('raw.funds', '2026-13', 'raw')")
