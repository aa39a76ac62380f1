"""Throw-away databases for tests, on the server `make test` found: one way to make and drop them.

``with throwaway_database(admin_dsn, "marts") as dsn:`` gives a new, empty database named
``halfsky_<label>_<worker>_<8 hex>`` (so a leftover says which test and xdist worker made it), with halfsky's
own schema when ``schema=True``, and drops it when the block ends, however it ends. The conftest fixture
``fresh_database`` is the same, bound to the admin DSN.

``with template_database(admin_dsn, "dims", build) as template:`` builds a database once (``build(dsn)``) and
keeps it as a Postgres template; ``throwaway_database(admin_dsn, "marts", template=template)`` then gives a copy
of it (``CREATE DATABASE ... TEMPLATE``, about a second instead of a build). The template's DSN is never handed
out: nobody may be connected to it while it is copied, so it is closed to connections once built.

A copy carries everything inside the database (schemas, tables, rows, roles' privileges on its objects,
extensions, sequences) but not what Postgres keeps per database outside it. ``throwaway_database`` carries
the two halfsky has over: the privileges on the database itself (CONNECT, TEMPORARY, CREATE: granted by name
in halfsky.warehouse.roles and analyst_role, absent from a copy, which starts with PUBLIC's defaults) and
database-level settings (``ALTER DATABASE ... SET``). Not carried: the statistics counters (pg_stat_*, which
start at zero), and dbt's work folder (HALFSKY_HOME/dbt/<database>: a copy's first dbt run parses afresh).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

# CREATE DATABASE ... TEMPLATE refuses while a session is connected to the template; one that just closed can
# linger a moment (a dbt process exiting, a psycopg connection being torn down).
TEMPLATE_BUSY_TIMEOUT = 60.0


def database_name(label: str) -> str:
    return f"halfsky_{label}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Template:
    """A database to copy from, by name only: its DSN is never given to a test (a connection would block copies)."""
    name: str


@contextmanager
def throwaway_database(admin_dsn: str, label: str, *, schema: bool = False,
                       template: Template | None = None) -> Iterator[str]:
    from halfsky.warehouse.dbt_runner import work_dir_path
    from halfsky.warehouse.schema import ensure_schema
    from halfsky_dev.local_postgres import drop_database, ensure_database

    if schema and template:
        raise ValueError("a copy of a template has the template's schema already")
    name = database_name(label)
    try:
        if template:
            dsn = copy_database(admin_dsn, template.name, name)
        else:
            dsn = ensure_database(admin_dsn, name)
        if schema:
            ensure_schema(dsn)
        yield dsn
    finally:
        drop_database(admin_dsn, name)
        shutil.rmtree(work_dir_path(name), ignore_errors=True)


@contextmanager
def template_database(admin_dsn: str, label: str, build: Callable[[str], None]) -> Iterator[Template]:
    """A database built once by ``build(dsn)``, then closed to connections, to copy with ``throwaway_database``;
    dropped at the end. ``build`` must leave no connection open (psycopg pools closed, dbt exited)."""
    import psycopg
    from psycopg import sql
    from halfsky.warehouse.dbt_runner import work_dir_path
    from halfsky_dev.local_postgres import drop_database, ensure_database

    name = database_name(label)
    try:
        build(ensure_database(admin_dsn, name))
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            # Nobody connects from now on: a stray connection would make every copy wait, then fail.
            conn.execute(sql.SQL("alter database {} with allow_connections false").format(sql.Identifier(name)))
        yield Template(name)
    finally:
        drop_database(admin_dsn, name)
        shutil.rmtree(work_dir_path(name), ignore_errors=True)


def copy_database(admin_dsn: str, template: str, name: str) -> str:
    """Create database ``name`` as a copy of database ``template`` (nobody may be connected to it: retried while
    someone is, for a while), with the template's privileges on the database and its settings; its DSN."""
    import psycopg
    from psycopg import sql
    from halfsky_dev.local_postgres import database_dsn

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        deadline = time.monotonic() + TEMPLATE_BUSY_TIMEOUT
        while True:
            try:
                conn.execute(sql.SQL("create database {} template {}").format(sql.Identifier(name),
                                                                               sql.Identifier(template)))
                break
            except psycopg.errors.ObjectInUse:
                if time.monotonic() > deadline:
                    sessions = conn.execute("select pid, usename, application_name, state, query from pg_stat_activity "
                                            "where datname = %s", (template,)).fetchall()
                    raise RuntimeError(f"template {template} stays in use: {sessions}") from None
                time.sleep(0.2)
        _carry_database_privileges(conn, template, name)
        _carry_database_settings(conn, template, name)
    return database_dsn(admin_dsn, name)


def _acl(conn, name: str) -> list[str] | None:
    return conn.execute("select datacl::text[] from pg_database where datname = %s", (name,)).fetchone()[0]


def _carry_database_privileges(conn, template: str, name: str) -> None:
    """GRANT on the copy exactly what the template grants on itself (aclexplode: grantee 0 is PUBLIC)."""
    from psycopg import sql

    wanted = _acl(conn, template)
    if wanted is None:
        return  # the template has Postgres' default privileges, and so has the copy
    db = sql.Identifier(name)
    conn.execute(sql.SQL("revoke all on database {} from public").format(db))
    grants = conn.execute("""select a.grantee, pg_get_userbyid(a.grantee), a.privilege_type, a.is_grantable
                             from pg_database as d, aclexplode(d.datacl) as a where d.datname = %s""",
                          (template,)).fetchall()
    for grantee_oid, grantee, privilege, grantable in grants:
        conn.execute(sql.SQL("grant {} on database {} to {}{}").format(
            sql.SQL(privilege), db, sql.SQL("public") if grantee_oid == 0 else sql.Identifier(grantee),
            sql.SQL(" with grant option" if grantable else "")))
    if sorted(_acl(conn, name) or []) != sorted(wanted):
        raise RuntimeError(f"the copy {name} did not get the privileges of {template}: "
                           f"{_acl(conn, name)} instead of {wanted}")


def _carry_database_settings(conn, template: str, name: str) -> None:
    """ALTER DATABASE ... SET (and ALTER ROLE ... IN DATABASE ... SET) of the template, on the copy."""
    from psycopg import sql

    rows = conn.execute("""select s.setrole, pg_get_userbyid(s.setrole), s.setconfig
                           from pg_db_role_setting as s join pg_database as d on d.oid = s.setdatabase
                           where d.datname = %s""", (template,)).fetchall()
    for role_oid, role, settings in rows:
        target = (sql.SQL("database {}").format(sql.Identifier(name)) if role_oid == 0
                  else sql.SQL("role {} in database {}").format(sql.Identifier(role), sql.Identifier(name)))
        for setting in settings:
            key, _, value = setting.partition("=")
            conn.execute(sql.SQL("alter {} set {} = {}").format(target, sql.Identifier(key), sql.Literal(value)))
