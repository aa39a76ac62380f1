"""Least privilege in the warehouse: the loader writes raw and ingest, never marts; dbt's role builds marts and
cannot write raw; the analyst reads marts only and can reach neither the person key nor anything that reveals it."""

from __future__ import annotations

import psycopg
import pytest

from halfsky.warehouse.analyst_role import ANALYST_ROLE
from halfsky.warehouse.roles import LOADER, TRANSFORMER, assume

DENIED = psycopg.errors.InsufficientPrivilege


def _as(dsn: str, role: str) -> psycopg.Connection:
    conn = psycopg.connect(dsn, autocommit=True)
    assert assume(conn, role), f"{role} cannot be taken by this login"
    return conn


@pytest.fixture(scope="module")
def built(dimensions):
    """The warehouse after dbt built the dimensions (as the transformer role), with one mart table to aim at."""
    return dimensions


def test_the_loader_writes_raw_and_ingest(built):
    with _as(built, LOADER) as conn, conn.transaction(force_rollback=True):
        conn.execute("insert into raw.activity (submission_id, row_number, period, region_code) values (-1, 1, '2026-09', '150102')")
        conn.execute("update ingest.submissions set replays = replays where false")
        conn.execute("analyze raw.activity")  # accept() analyses after a big drop: the loader owns raw


@pytest.mark.parametrize("statement", [
    "select count(*) from marts.dim_region",
    "insert into marts.dim_program (program_key) values ('x')",
    "delete from marts.dim_region",
    "create table marts.loader_was_here (x int)",
    "create table staging.loader_was_here (x int)",
    "drop table marts.dim_region",
])
def test_the_loader_cannot_touch_the_layers_dbt_builds(built, statement):
    with _as(built, LOADER) as conn, pytest.raises(DENIED):
        conn.execute(statement)


@pytest.mark.parametrize("statement", [
    "insert into raw.activity (submission_id, row_number, period) values (-1, 1, '2026-09')",
    "delete from raw.beneficiaries",
    "update ingest.submissions set status = 'accepted'",
    "truncate raw.funds",
    "delete from audit.raw_changes",
])
def test_dbts_role_reads_raw_but_cannot_write_it(built, statement):
    with _as(built, TRANSFORMER) as conn:
        assert conn.execute("select count(*) from raw.beneficiaries").fetchone() is not None
        with pytest.raises(DENIED):
            conn.execute(statement)


def test_dbt_built_the_marts_as_its_own_role(built):
    with psycopg.connect(built) as conn:
        owners = dict(conn.execute("select tablename, tableowner from pg_tables where schemaname = 'marts'").fetchall())
        raw_owners = {r[0] for r in conn.execute("select tableowner from pg_tables where schemaname = 'raw'")}
    assert owners and set(owners.values()) == {TRANSFORMER}
    assert raw_owners == {LOADER}


@pytest.mark.parametrize("statement", [
    "select * from raw.beneficiaries",
    "select * from ingest.submissions",
    "select * from ingest.person_key",
    "select * from audit.raw_changes",
    "select * from raw.purged_persons",
    "select reference.mask_id_numbers('x')",
    "select * from staging.stg_raw__beneficiaries",
])
def test_the_analyst_reads_nothing_outside_marts(built, statement):
    with _as(built, ANALYST_ROLE) as conn, pytest.raises(DENIED):
        conn.execute(statement)


def test_the_analyst_cannot_see_the_person_key_of_a_session_that_holds_it(built):
    key = "analyst-must-not-see-" + "k" * 20
    with psycopg.connect(built, options=f"-c halfsky.person_key={key} -c application_name=keyed_build") as keyed:
        keyed.execute("select current_setting('halfsky.person_key')")  # a build's session, idle with its key
        with _as(built, ANALYST_ROLE) as analyst:
            assert analyst.execute("select current_setting('halfsky.person_key', true)").fetchone()[0] in (None, "")
            seen = analyst.execute("select coalesce(query, '') from pg_stat_activity where application_name = 'keyed_build'"
                                   ).fetchall()
            assert all(key not in row[0] for row in seen)
            assert not analyst.execute("select 1 from pg_settings where setting like %s", (f"%{key}%",)).fetchall()
            # no function the analyst may call lives outside the catalog and the extensions
            callable_functions = analyst.execute("""
                select n.nspname || '.' || p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                where n.nspname not in ('pg_catalog', 'information_schema', 'public')
                  and has_function_privilege(p.oid, 'execute') and has_schema_privilege(n.oid, 'usage')""").fetchall()
            assert callable_functions == []


def test_the_analyst_logs_in_with_a_password_from_the_environment(built):
    import os

    from halfsky.warehouse.analyst_role import ensure_analyst_role

    assert os.environ.get("HALFSKY_ANALYST_PASSWORD"), "make setup writes one into .halfsky/env.sh"
    ensure_analyst_role(built)
    with psycopg.connect(built) as conn:
        stored = conn.execute("select rolpassword from pg_authid where rolname = %s", (ANALYST_ROLE,)).fetchone()[0]
    assert stored and stored.startswith("SCRAM-SHA-256$")  # hashed by the server, never stored as given
