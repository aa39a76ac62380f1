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

AUDIT_DDL = r"""
create schema if not exists audit;

create table if not exists audit.raw_changes (
    change_id        bigint generated always as identity primary key,
    submission_id    bigint not null,
    prefecture_code  text not null,
    period           text not null,
    drop_path        text not null,
    change           text not null,     -- received, duplicate, accepted, superseded, rejected, pending, replayed, purged
    from_status      text,
    to_status        text not null,
    row_counts       jsonb,
    run_id           text,
    actor            text not null,
    session_user_name text not null,
    db_role          text,
    as_of            timestamptz,
    recorded_at      timestamptz not null default clock_timestamp()
);
create index if not exists raw_changes_unit_period on audit.raw_changes (prefecture_code, period, change_id);

alter table ingest.submissions add column if not exists personal_data_purged_at timestamptz;

create or replace function audit.record_raw_change() returns trigger
language plpgsql security definer set search_path = pg_catalog, audit as $audit$
declare
    who text := coalesce(nullif(current_setting('halfsky.actor', true), ''), session_user::text);
    acting_role text := nullif(current_setting('role', true), 'none');
begin
    if tg_op = 'INSERT' then
        insert into audit.raw_changes (submission_id, prefecture_code, period, drop_path, change, from_status, to_status,
                                       row_counts, run_id, actor, session_user_name, db_role, as_of)
        values (new.submission_id, new.prefecture_code, new.period, new.drop_path,
                case new.status when 'pending' then 'received' else new.status end, null, new.status,
                null, new.run_id, who, session_user, acting_role, new.first_seen_at);
        return new;
    end if;
    if new.replays > old.replays then
        insert into audit.raw_changes (submission_id, prefecture_code, period, drop_path, change, from_status, to_status,
                                       row_counts, run_id, actor, session_user_name, db_role, as_of)
        values (new.submission_id, new.prefecture_code, new.period, new.drop_path, 'replayed', old.status, new.status,
                null, new.run_id, who, session_user, acting_role, new.decided_at);
    end if;
    if new.status is distinct from old.status then
        insert into audit.raw_changes (submission_id, prefecture_code, period, drop_path, change, from_status, to_status,
                                       row_counts, run_id, actor, session_user_name, db_role, as_of)
        values (new.submission_id, new.prefecture_code, new.period, new.drop_path, new.status, old.status, new.status,
                new.row_counts, new.run_id, who, session_user, acting_role, new.decided_at);
    end if;
    if new.personal_data_purged_at is distinct from old.personal_data_purged_at and new.personal_data_purged_at is not null then
        insert into audit.raw_changes (submission_id, prefecture_code, period, drop_path, change, from_status, to_status,
                                       row_counts, run_id, actor, session_user_name, db_role, as_of)
        values (new.submission_id, new.prefecture_code, new.period, new.drop_path, 'purged', old.status, new.status,
                null, null, who, session_user, acting_role, new.personal_data_purged_at);
    end if;
    return new;
end
$audit$;
revoke all on function audit.record_raw_change() from public;

create or replace trigger submissions_audit after insert or update on ingest.submissions
    for each row execute function audit.record_raw_change();
"""

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
