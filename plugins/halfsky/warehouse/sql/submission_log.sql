-- The submission log: every drop found in the landing store, its standing, and the findings that decided it.
-- Written by halfsky.ingest (as halfsky_loader); every change of a drop's standing is logged by audit.sql's trigger.
-- A column added later is an `add column if not exists` below the table, so a warehouse made before it gets it too.

create table if not exists ingest.submissions (
    submission_id    bigint generated always as identity primary key,
    prefecture_code  text not null,
    period           text not null,
    drop_name        text not null,
    drop_path        text not null unique,      -- relative to the landing root
    format           text not null,
    sha256           char(64),
    size_bytes       bigint not null,
    received_at      timestamptz not null,      -- the landing store's timestamp for the drop
    first_seen_at    timestamptz not null,      -- end of the data interval of the run that found it
    status           text not null check (status in ('pending', 'accepted', 'rejected', 'duplicate', 'superseded')),
    duplicate_of     bigint references ingest.submissions,
    is_late          boolean not null default false,
    reasons          jsonb not null default '[]',  -- [{rule, severity, count, zh, en}]
    row_counts       jsonb not null default '{}',
    quarantine_path  text,
    decided_at       timestamptz,
    accepted_at      timestamptz,
    run_id           text,
    replays          int not null default 0
);
-- null for a drop that is never read (a link or device, or over the size limit)
alter table ingest.submissions alter column sha256 drop not null;
-- contract v3: a csv folder's manifest.json notes, the prefecture's word on its drop (masked in the marts)
alter table ingest.submissions add column if not exists notes text;
create index if not exists submissions_unit_period on ingest.submissions (prefecture_code, period);
create index if not exists submissions_sha on ingest.submissions (sha256);
-- The newest drop of a period and its accepted one, found without reading the period's other drops.
create index if not exists submissions_newest on ingest.submissions (prefecture_code, period, first_seen_at desc, drop_name desc)
    where status in ('accepted', 'superseded');
create index if not exists submissions_accepted on ingest.submissions (prefecture_code, period) where status = 'accepted';

-- Every failing (or warned) row, field and rule of every decided drop: the quarantine report's rows.
create table if not exists ingest.drop_findings (
    submission_id  bigint not null references ingest.submissions on delete cascade,
    form           text,
    row_number     int,
    field          text,
    value          text,
    rule           text not null,
    severity       text not null
);
create index if not exists drop_findings_submission on ingest.drop_findings (submission_id);
-- fct_data_quality takes every accepted drop's cash_over_cap each night (halfsky.ingest.judging.cash_cap may move them).
create index if not exists drop_findings_cash_over_cap on ingest.drop_findings (submission_id) where rule = 'cash_over_cap';
