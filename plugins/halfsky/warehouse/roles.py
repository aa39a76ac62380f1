"""Least privilege inside the warehouse: who may write which layer.

- ``halfsky_loader`` (the ingest tasks and replays) owns ``raw``, reads and writes the rows of ``ingest``,
  reads ``reference`` and ``audit``, and cannot see ``staging``, ``intermediate`` or ``marts``;
- ``halfsky_transformer`` (dbt) owns ``staging``, ``intermediate`` and ``marts`` and the seeds in
  ``reference``, and may only read ``raw`` and ``ingest``;
- ``halfsky_analyst`` (BI tools, ``halfsky.warehouse.analyst_role``) reads ``marts`` only.

The first two are group roles without a login. halfsky's own connections switch into them
(``SET ROLE`` right after connecting, ``-c role=`` for dbt), so a bug in the loader cannot touch a
mart and dbt cannot rewrite raw even when the warehouse connection is the database owner. A site
that wants separate logins grants each role to its own login user instead (README, "Security").

``ingest`` and ``audit`` stay with the database owner: the loader can neither disable the trigger that
writes ``audit.raw_changes`` nor touch the log itself (the trigger's function runs as the owner).
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from halfsky.warehouse.partitions import FACT_PARTITION_SCHEMA

log = logging.getLogger(__name__)

LOADER = "halfsky_loader"
TRANSFORMER = "halfsky_transformer"
# The partitions of the facts partitioned by period (halfsky.warehouse.partitions), out of analysts' sight, are dbt's too.
TRANSFORMER_SCHEMAS = ("staging", "intermediate", "marts", FACT_PARTITION_SCHEMA)


# Loaded by the owner at set-up (halfsky.contract.reference); everything else in reference is a dbt seed.
OWNER_REFERENCE_TABLES = ("admin_divisions", "home_regions")


def _create_role(conn: psycopg.Connection, role: str) -> bool:
    if conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
        return True
    try:
        with conn.transaction():
            conn.execute(sql.SQL("create role {} nologin nosuperuser nocreatedb nocreaterole").format(sql.Identifier(role)))
    except psycopg.errors.DuplicateObject:
        pass  # another database on this server made it a moment ago: roles are cluster-wide
    except psycopg.errors.InsufficientPrivilege:
        log.warning("cannot create role %s (no CREATEROLE): halfsky runs without its least-privilege roles; "
                    "ask a DBA to create %s and %s (README, Security)", role, LOADER, TRANSFORMER)
        return False
    return True


def _owned_relations(conn: psycopg.Connection, schemas: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(schema, name, kind) of every table, view and materialized view in ``schemas`` (sequences follow their table)."""
    return conn.execute(
        """select n.nspname, c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm')""", (list(schemas),)).fetchall()


_ALTER_OWNER = {"r": "table", "p": "table", "v": "view", "m": "materialized view"}


def _give(conn: psycopg.Connection, relations, role: str) -> None:
    for schema, name, kind in relations:
        conn.execute(sql.SQL("alter {} {} owner to {}").format(
            sql.SQL(_ALTER_OWNER[kind]), sql.Identifier(schema, name), sql.Identifier(role)))


def ensure_pipeline_roles(conn: psycopg.Connection) -> bool:
    """Create the loader and transformer roles, hand them their layers, and grant exactly what each reads.

    Idempotent; run by ``ensure_schema`` as the database owner. Returns False when the roles could not be
    created (no CREATEROLE), in which case halfsky connects as it is and says so once.
    """
    if not (_create_role(conn, LOADER) and _create_role(conn, TRANSFORMER)):
        return False
    loader, transformer = sql.Identifier(LOADER), sql.Identifier(TRANSFORMER)
    database = sql.Identifier(conn.info.dbname)
    # The login halfsky connects as must be able to SET ROLE to both.
    conn.execute(sql.SQL("grant {}, {} to current_user").format(loader, transformer))
    conn.execute(sql.SQL("grant connect, temporary on database {} to {}, {}").format(database, loader, transformer))
    # dbt runs `create schema if not exists` for every layer it builds.
    conn.execute(sql.SQL("grant create on database {} to {}").format(database, transformer))
    for schema in TRANSFORMER_SCHEMAS:
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
    conn.execute(sql.SQL("alter schema raw owner to {}").format(loader))  # ANALYZE after a big drop needs the owner
    _give(conn, _owned_relations(conn, ("raw",)), LOADER)
    conn.execute(sql.SQL("grant usage on schema ingest, audit to {}").format(loader))
    conn.execute(sql.SQL("grant select, insert, update, delete on all tables in schema ingest to {}").format(loader))
    conn.execute(sql.SQL("grant usage on all sequences in schema ingest to {}").format(loader))
    conn.execute(sql.SQL("alter default privileges in schema ingest grant select, insert, update, delete on tables to {}")
                 .format(loader))
    conn.execute(sql.SQL("grant select on all tables in schema audit to {}").format(loader))
    for schema in TRANSFORMER_SCHEMAS:
        conn.execute(sql.SQL("alter schema {} owner to {}").format(sql.Identifier(schema), transformer))
        conn.execute(sql.SQL("revoke all on schema {} from {}").format(sql.Identifier(schema), loader))
    _give(conn, _owned_relations(conn, TRANSFORMER_SCHEMAS), TRANSFORMER)
    # reference holds the owner's tables (divisions, home regions, loaded at set-up) and dbt's seeds.
    seeds = [r for r in _owned_relations(conn, ("reference",)) if r[1] not in OWNER_REFERENCE_TABLES]
    _give(conn, seeds, TRANSFORMER)
    conn.execute(sql.SQL("grant usage, create on schema reference to {}").format(transformer))
    conn.execute(sql.SQL("grant usage on schema reference to {}").format(loader))
    conn.execute(sql.SQL("grant select on all tables in schema reference to {}, {}").format(loader, transformer))
    conn.execute(sql.SQL("alter default privileges for role {} in schema reference grant select on tables to {}")
                 .format(transformer, loader))
    # the owner's reference tables are (re)made after this, at set-up (halfsky.contract.reference)
    conn.execute(sql.SQL("alter default privileges in schema reference grant select on tables to {}, {}")
                 .format(loader, transformer))
    # dbt reads raw and the submission log, never writes them; later tables are granted as they are made.
    conn.execute(sql.SQL("grant usage on schema raw, ingest to {}").format(transformer))
    conn.execute(sql.SQL("grant select on all tables in schema raw, ingest to {}").format(transformer))
    conn.execute(sql.SQL("alter default privileges for role {} in schema raw grant select on tables to {}")
                 .format(loader, transformer))
    conn.execute(sql.SQL("alter default privileges in schema ingest grant select on tables to {}").format(transformer))
    # The province's sign-off, for dim_submission and the completeness report; the rest of audit stays unseen.
    conn.execute(sql.SQL("grant usage on schema audit to {}").format(transformer))
    conn.execute(sql.SQL("grant select on audit.period_reviews, audit.period_approval to {}").format(transformer))
    return True


def assume(conn: psycopg.Connection, role: str) -> bool:
    """Switch an open connection into ``role`` for the rest of its session, if the role exists and may be taken.

    Commits at once: a ``SET ROLE`` inside a transaction that later rolls back would be undone with it.
    """
    usable = conn.execute("select pg_has_role(session_user, oid, 'member') from pg_roles where rolname = %s",
                          (role,)).fetchone()
    if not (usable and usable[0]):
        return False
    conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
    conn.commit()
    return True


def with_role_option(dsn: str, role: str, pgoptions: str = "") -> str:
    """PGOPTIONS that start a session in ``role`` (for dbt, which opens its own connections), when the
    login may take it; ``pgoptions`` as they were otherwise."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        usable = conn.execute("select pg_has_role(session_user, oid, 'member') from pg_roles where rolname = %s",
                              (role,)).fetchone()
    if not (usable and usable[0]):
        log.warning("role %s is missing or not granted to this login: dbt runs as the login itself", role)
        return pgoptions
    return f"{pgoptions} -c role={role}".strip()
