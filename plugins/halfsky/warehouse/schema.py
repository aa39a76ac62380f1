"""The warehouse's own tables: the submission log, the restricted raw layer, reference data.

dbt owns staging, intermediate and marts; these tables are written by the
pipeline with COPY and read by dbt as sources. Hand-written DDL is in ``sql/`` (``halfsky.warehouse.ddl``);
what is generated from Python data stays here: the raw tables from the form definitions, so raw columns
always match the contract, and the id-number masking functions from the contract's id-number patterns.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

import psycopg

from halfsky.warehouse.audit import AUDIT_DDL
from halfsky.contract.forms import FORMS, PG_TYPES
from halfsky.config.settings import warehouse_dsn
from halfsky.warehouse.ddl import read_ddl
from halfsky.warehouse.partitions import ENSURE_PERIOD_PARTITION, ensure_raw_partitions
from halfsky.warehouse.period_reviews import PERIOD_REVIEWS_DDL
from halfsky.warehouse.roles import ensure_pipeline_roles

log = logging.getLogger(__name__)

# Hand-written DDL that ensure_schema runs before the raw tables, in this order (one transaction).
_BEFORE_RAW = ("schemas.sql", "submission_log.sql", "person_key.sql", "admin_divisions.sql")


# Id numbers typed into free text (a counterparty "王秀英(身份证150100198503150022)", "150302 850315 001") never
# reach marts: reference.id_number_spans is halfsky.contract.id_numbers.id_number_spans in PL/pgSQL, built from the same
# pattern strings and codes, and every span becomes a marker. Used by the dbt facts, their data test and the purge.
ID_NUMBER_MARKER = "[身份证号已隐去 id number masked]"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def mask_id_numbers_sql() -> str:
    from halfsky.contract import id_numbers as ids
    digit = _literal("^" + ids.ID_DIGIT + "$")
    # Generated, not a .sql file: the patterns, separators, full-width digits, province codes and birth years
    # are halfsky.contract.id_numbers' own values, so SQL and Python find the same spans. is_real_date is not.
    return read_ddl("id_numbers.sql") + f"""
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
    # Generated, not a .sql file: the columns and their types are the contract's forms (FORMS, PG_TYPES).
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
    statements.append(read_ddl("raw_indexes.sql"))
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
PURGED_PERSONS_DDL = read_ddl("purged_persons.sql")


@contextmanager
def connect(dsn: str | None = None, **kwargs) -> Iterator[psycopg.Connection]:
    with psycopg.connect(dsn or warehouse_dsn(), **kwargs) as conn:
        yield conn


def ensure_schema(dsn: str | None = None) -> None:
    """Create the pipeline's schemas and tables if they are missing (idempotent)."""
    with connect(dsn) as conn:
        # One migration at a time when several workers start together.
        conn.execute("select pg_advisory_xact_lock(hashtext('halfsky.ensure_schema'))")
        for name in _BEFORE_RAW:
            conn.execute(read_ddl(name))
        conn.execute(ENSURE_PERIOD_PARTITION)
        _partition_raw(conn)
        conn.execute(mask_id_numbers_sql())
        conn.execute(AUDIT_DDL)
        conn.execute(PERIOD_REVIEWS_DDL)
        conn.execute(read_ddl("portal.sql"))
        roles = ensure_pipeline_roles(conn)
    log.info("warehouse schemas ingest, raw, reference, audit and portal are in place%s",
             "; the loader and transformer roles have their layers" if roles else "")
