"""The audit log of raw: every change of a drop's standing, who made it and when.

A trigger on ``ingest.submissions`` writes ``audit.raw_changes`` whenever a drop is received, accepted
(its rows enter raw), superseded (a newer drop of the period takes its place in the marts), rejected,
replayed from quarantine, or has its personal data purged. Being a trigger, no code path can change a
drop's standing without a line here; its function runs as the database owner, so the loader (which
may write ``ingest.submissions``) can neither skip nor edit the log.

``actor`` is what the connection declared (``halfsky.actor``: the Airflow run, or ``user@host`` of a
command-line replay or purge); ``session_user`` and ``db_role`` are what Postgres knows.
``recorded_at`` is the wall clock (when it happened); ``as_of`` is the run's data interval end.
"""

from __future__ import annotations

import getpass
import socket

import psycopg

from halfsky.warehouse.ddl import read_ddl

AUDIT_DDL = read_ddl("audit.sql")

# One prefecture-period's history, oldest first (README, "Audit").
HISTORY_SQL = """
select c.recorded_at, c.change, c.submission_id, c.drop_path, c.from_status, c.to_status,
       c.row_counts, c.actor, c.db_role, c.as_of
from audit.raw_changes c
where c.prefecture_code = %s and c.period = %s
order by c.change_id
"""


def command_line_actor() -> str:
    """Who runs a command by hand: ``user@host``."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


def declare_actor(conn: psycopg.Connection, actor: str) -> None:
    """Name who this session works for, for every audit line its changes write."""
    conn.execute("select set_config('halfsky.actor', %s, false)", (actor[:200],))
    conn.commit()


def history(conn: psycopg.Connection, prefecture_code: str, period: str) -> list[tuple]:
    return conn.execute(HISTORY_SQL, (prefecture_code, period)).fetchall()
