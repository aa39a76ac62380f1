-- The audit log of raw (halfsky.warehouse.audit says what it records and why a trigger). Run by ensure_schema
-- after the submission log; ingest.submissions.personal_data_purged_at is added here, after the log's own columns.

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
