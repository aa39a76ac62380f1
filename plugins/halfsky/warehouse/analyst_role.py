"""The read-only role BI tools use: SELECT on marts, nothing on raw, ingest, staging or intermediate."""

from __future__ import annotations

import logging
import os
import time

import psycopg
from psycopg import sql

from halfsky.warehouse.schema import connect

log = logging.getLogger(__name__)

ANALYST_ROLE = "halfsky_analyst"
RESTRICTED_SCHEMAS = ("raw", "ingest", "staging", "intermediate", "reference")


def ensure_analyst_role(dsn: str | None = None) -> None:
    """Create the role if it is missing and give it exactly: connect, usage on marts; nobody else
    (PUBLIC) may connect to the warehouse.

    dbt grants SELECT on each mart as it builds it (``+grants`` in dbt_project.yml).
    The password, if BI tools log in with one, comes from HALFSKY_ANALYST_PASSWORD.
    """
    role = sql.Identifier(ANALYST_ROLE)
    with connect(dsn) as conn:
        conn.execute("select pg_advisory_xact_lock(hashtext('halfsky.analyst_role'))")
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (ANALYST_ROLE,)).fetchone()
        if not exists:
            try:
                with conn.transaction():
                    conn.execute(sql.SQL("create role {} login nosuperuser nocreatedb nocreaterole noinherit").format(role))
            except psycopg.errors.DuplicateObject:
                pass  # another database on this server made it a moment ago: roles are cluster-wide
            except psycopg.errors.InsufficientPrivilege:
                log.warning("cannot create role %s (no CREATEROLE); ask a DBA to create it", ANALYST_ROLE)
                return
        password = os.environ.get("HALFSKY_ANALYST_PASSWORD")
        if password:
            # Hashed here (SCRAM-SHA-256, as psql does for \password): the server, its statement log and
            # pg_stat_activity only ever see the verifier, never the password.
            verifier = conn.pgconn.encrypt_password(password.encode(), ANALYST_ROLE.encode(), b"scram-sha-256").decode()
            _alter_role(conn, sql.SQL("alter role {} password {}").format(role, sql.Literal(verifier)))
        database = sql.Identifier(conn.info.dbname)
        # Only the roles that need the warehouse may connect to it or make temporary tables in it.
        conn.execute(sql.SQL("revoke connect, temporary on database {} from public").format(database))
        conn.execute(sql.SQL("grant connect, temporary on database {} to current_user").format(database))
        conn.execute(sql.SQL("grant connect on database {} to {}").format(database, role))
        conn.execute("create schema if not exists marts")
        conn.execute(sql.SQL("grant usage on schema marts to {}").format(role))
        for schema in RESTRICTED_SCHEMAS:
            conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("revoke all on schema {} from {}").format(sql.Identifier(schema), role))
            conn.execute(sql.SQL("revoke all on all tables in schema {} from {}").format(sql.Identifier(schema), role))
    log.info("role %s can read marts and nothing else", ANALYST_ROLE)


def _alter_role(conn: psycopg.Connection, statement: sql.Composable, attempts: int = 5) -> None:
    """Roles are shared by every database on the server, but an advisory lock is not: two warehouses set up
    at once (two test workers, two sites on one server) can update the same role's row, and Postgres refuses
    one of them with 'tuple concurrently updated'. That one is tried again, a moment later."""
    for attempt in range(1, attempts + 1):
        try:
            with conn.transaction():
                conn.execute(statement)
            return
        except psycopg.errors.InternalError_ as exc:
            if "concurrently updated" not in str(exc) or attempt == attempts:
                raise
            time.sleep(0.05 * attempt)
