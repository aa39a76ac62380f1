"""The warehouse's own tables: the submission log, the restricted raw layer, reference data.

dbt owns staging, intermediate and marts; these tables are written by the
pipeline with COPY and read by dbt as sources. The DDL is generated from the
form definitions so raw columns always match the contract.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

import psycopg

from halfsky.warehouse.audit import AUDIT_DDL
from halfsky.contract.forms import FORMS, PG_TYPES
from halfsky.config.settings import warehouse_dsn
from halfsky.warehouse.partitions import ENSURE_PERIOD_PARTITION, ensure_raw_partitions
from halfsky.warehouse.roles import ensure_pipeline_roles

log = logging.getLogger(__name__)

SUBMISSION_STATUSES = ("pending", "accepted", "rejected", "duplicate", "superseded")

_SUBMISSION_LOG = f"""
create schema if not exists ingest;
create schema if not exists raw;
create schema if not exists reference;
-- hmac() keys beneficiaries; trusted since PostgreSQL 13, so the database owner may create it.
create extension if not exists pgcrypto;

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
    status           text not null check (status in {SUBMISSION_STATUSES!r}),
    duplicate_of     bigint references ingest.submissions,
    is_late          boolean not null default false,
    reasons          jsonb not null default '[]',  -- [{{rule, severity, count, zh, en}}]
    row_counts       jsonb not null default '{{}}',
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

-- Which person key built the marts: a keyed fingerprint, never the key. A build with another key is refused.
create table if not exists ingest.person_key (
    singleton    boolean primary key default true check (singleton),
    fingerprint  text not null,
    recorded_at  timestamptz not null default now()
);

create table if not exists reference.admin_divisions (
    code             char(6) primary key,
    name_zh          text not null,
    level            text not null,
    province_code    char(6) not null,
    prefecture_code  char(6),
    county_type      text,     -- county level only: 区, 县, 旗, 自治县, 自治旗, 县级市, 林区, 特区, 其他
    reporting_unit_code char(6),  -- the federation that reports for the region; null for provinces
    longitude        numeric(9, 6),
    latitude         numeric(9, 6)
);
alter table reference.admin_divisions add column if not exists county_type text;
alter table reference.admin_divisions add column if not exists reporting_unit_code char(6);
-- pinyin and the division's kind in English (halfsky.contract.reference.romanised_names), for analysts who read no Chinese
alter table reference.admin_divisions add column if not exists name_en text;
"""


# Id numbers typed into free text (a counterparty "王秀英(身份证150100198503150022)", "150302 850315 001") never
# reach marts: reference.id_number_spans is halfsky.contract.id_numbers.id_number_spans in PL/pgSQL, built from the same
# pattern strings and codes, and every span becomes a marker. Used by the dbt facts, their data test and the purge.
ID_NUMBER_MARKER = "[身份证号已隐去 id number masked]"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def mask_id_numbers_sql() -> str:
    from halfsky.contract import id_numbers as ids
    digit = _literal("^" + ids.ID_DIGIT + "$")
    return f"""
create or replace function reference.is_real_date(y int, m int, d int) returns boolean
language sql immutable parallel safe as $date$
    select m between 1 and 12 and d between 1 and extract(day from make_date(y, m, 1) + interval '1 month - 1 day')::int
$date$;

create or replace function reference.id_number_spans(value text, checked boolean default true)
returns table (span_start int, span_end int)  -- 0-based, end exclusive, as Python's slices
language plpgsql immutable parallel safe as $spans$
declare
    n int;
    pos int := 1;
    candidate text;
    bare text;
    pattern text;
begin
    if value is null or value !~ {_literal(ids.ID_HINT_PATTERN)} then
        return;
    end if;
    n := length(value);
    while pos <= n loop
        if substr(value, pos, 1) !~ {digit} or (pos > 1 and substr(value, pos - 1, 1) ~ {digit}) then
            pos := pos + 1;
            continue;
        end if;
        candidate := null;
        foreach pattern in array array[{_literal(ids.ID18_PATTERN)}, {_literal(ids.ID15_PATTERN)}] loop
            candidate := (regexp_match(substr(value, pos), '^(' || pattern || ')'))[1];
            if candidate is not null and substr(value, pos + length(candidate), 1) !~ {digit} then
                bare := translate(regexp_replace(candidate, {_literal(ids.ID_SEPARATOR)}, '', 'g'),
                                  {_literal(ids.FULL_WIDTH_DIGITS + "xＸｘ")}, '0123456789XXX');
                exit when not checked;
                exit when length(bare) in (15, 18) and left(bare, -1) ~ '^[0-9]+$'
                      and left(bare, 2)::int = any (array[{", ".join(str(c) for c in sorted(ids.PROVINCE_CODES))}])
                      and case when length(bare) = 15
                               then right(bare, 1) ~ '[0-9]' and reference.is_real_date(
                                    1900 + substr(bare, 7, 2)::int, substr(bare, 9, 2)::int, substr(bare, 11, 2)::int)
                               else substr(bare, 7, 4)::int between {ids.BIRTH_YEARS[0]} and {ids.BIRTH_YEARS[1]}
                                    and reference.is_real_date(substr(bare, 7, 4)::int, substr(bare, 11, 2)::int,
                                                               substr(bare, 13, 2)::int)
                          end;
            end if;
            candidate := null;
        end loop;
        if candidate is null then
            pos := pos + 1;
        else
            span_start := pos - 1;
            span_end := pos - 1 + length(candidate);
            return next;
            pos := pos + length(candidate);
        end if;
    end loop;
end
$spans$;

create or replace function reference.mask_id_numbers(value text) returns text
language plpgsql immutable parallel safe as $mask$
declare
    span record;
    masked text := '';
    done int := 0;
begin
    if value is null or value !~ {_literal(ids.ID_HINT_PATTERN)} then
        return value;
    end if;
    for span in select * from reference.id_number_spans(value) loop
        masked := masked || substr(value, done + 1, span.span_start - done) || {_literal(ID_NUMBER_MARKER)};
        done := span.span_end;
    end loop;
    return masked || substr(value, done + 1);
end
$mask$;
"""


def raw_table_ddl() -> str:
    # raw.* rows carry their submission_id without a foreign key: accept() writes them in the transaction
    # that holds the submission row, and is their only writer. The key's per-row check was 12 s of a 1M-row COPY.
    # Each is partitioned by the submission's period (halfsky.warehouse.partitions), which every row repeats.
    statements = []
    for form in FORMS.values():
        columns = ",\n    ".join(f"{f.name} {PG_TYPES[f.kind]}" for f in form.fields)
        statements.append(
            f"""create table if not exists raw.{form.name} (
    submission_id bigint not null,  -- ingest.submissions, unenforced (see above)
    row_number int not null,
    period text not null,           -- the submission's: the partition key
    {columns}
) partition by range (period);
create table if not exists raw.{form.name}_default partition of raw.{form.name} default;
create index if not exists {form.name}_submission on raw.{form.name} (submission_id);"""
        )
        statements.append(f"alter table raw.{form.name} drop constraint if exists {form.name}_submission_id_fkey;")
        # Fields added by a later contract version reach a warehouse created before it.
        statements += [f"alter table raw.{form.name} add column if not exists {f.name} {PG_TYPES[f.kind]};" for f in form.fields]
    # cash_over_cap looks a person's cash up across every prefecture's history. Only cash rows, and a hash:
    # a btree over every id number cost a 1M-row drop 9 s of random inserts.
    statements.append("drop index if exists raw.beneficiaries_id_number;")
    statements.append("create index if not exists beneficiaries_cash_id_number on raw.beneficiaries "
                      "using hash (id_number) where benefit_type = 'CASH';")
    statements.append(PURGED_PERSONS_DDL)
    return "\n".join(statements)


def _partition_raw(conn: psycopg.Connection) -> None:
    """A warehouse made before raw was partitioned: each raw table is rebuilt partitioned, its rows moved in
    with their submission's period, in ensure_schema's transaction (all or nothing)."""
    for form in FORMS.values():
        table = f"raw.{form.name}"
        if not conn.execute("select 1 from pg_class where oid = to_regclass(%s) and relkind = 'r'", (table,)).fetchone():
            continue
        old = f"{form.name}_before_partitioning"
        conn.execute(f"alter table {table} rename to {old}")
        for (index,) in conn.execute("select indexrelid::regclass::text from pg_index where indrelid = %s::regclass",
                                     (f"raw.{old}",)).fetchall():
            conn.execute(f"alter index {index} rename to {index.split('.')[-1]}_before_partitioning")
    conn.execute(raw_table_ddl())
    for form in FORMS.values():
        old = f"raw.{form.name}_before_partitioning"
        if not conn.execute("select to_regclass(%s)", (old,)).fetchone()[0]:
            continue
        columns = [name for (name,) in conn.execute(
            "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 and not attisdropped "
            "order by attnum", (old,)).fetchall()]
        periods = [p for (p,) in conn.execute(
            f"select distinct s.period from {old} o join ingest.submissions s using (submission_id)").fetchall()]
        for period in periods:
            ensure_raw_partitions(conn, [form.name], period)
        listed = ", ".join(f"o.{c}" for c in columns)
        # A row whose submission is gone (none should be) keeps its place in the default partition.
        moved = conn.execute(
            f"""insert into raw.{form.name} ({', '.join(columns)}, period)
                select {listed}, coalesce(s.period, 'no submission')
                from {old} o left join ingest.submissions s using (submission_id)""").rowcount
        conn.execute(f"drop table {old}")
        log.info("raw.%s is now partitioned by period: %s rows moved into %s periods", form.name, moved, len(periods))


# What the marts keep of a person whose id number and name were purged (halfsky.warehouse.retention).
PURGED_PERSONS_DDL = """create table if not exists raw.purged_persons (
    pseudonym        char(18) primary key,   -- replaced the id number in raw.beneficiaries: 'P' and 17 hex digits
    beneficiary_key  text not null unique,   -- the marts' key, computed with the person key at the purge
    gender           char(1) not null,
    birth_year       int not null,
    birth_date       date not null,
    issuing_code     char(6) not null        -- the first six digits: the home region the marts show
);"""


@contextmanager
def connect(dsn: str | None = None, **kwargs) -> Iterator[psycopg.Connection]:
    with psycopg.connect(dsn or warehouse_dsn(), **kwargs) as conn:
        yield conn


def ensure_schema(dsn: str | None = None) -> None:
    """Create the pipeline's schemas and tables if they are missing (idempotent)."""
    with connect(dsn) as conn:
        # One migration at a time when several workers start together.
        conn.execute("select pg_advisory_xact_lock(hashtext('halfsky.ensure_schema'))")
        conn.execute(_SUBMISSION_LOG)
        conn.execute(ENSURE_PERIOD_PARTITION)
        _partition_raw(conn)
        conn.execute(mask_id_numbers_sql())
        conn.execute(AUDIT_DDL)
        roles = ensure_pipeline_roles(conn)
    log.info("warehouse schemas ingest, raw, reference and audit are in place%s",
             "; the loader and transformer roles have their layers" if roles else "")
