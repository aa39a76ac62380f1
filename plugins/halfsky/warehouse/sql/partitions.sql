-- Partitions by period, made on demand (halfsky.warehouse.partitions says why and who calls them):
-- reference.ensure_period_partition for raw (the loader) and the facts (dbt's pre-hook), and the DEFAULT
-- partition of a fact (reference.ensure_default_partition). Run by ensure_schema before the raw tables.

create or replace function reference.period_bounds(period text) returns text[]
language sql immutable parallel safe as $bounds$
    select case
        when period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'
            then array[period, to_char(to_date(period || '-01', 'YYYY-MM-DD') + interval '1 month', 'YYYY-MM')]
        when period ~ '^[0-9]{4}$' then array[period, (period::int + 1)::text]
    end
$bounds$;

-- The DEFAULT partition of ``parent``, or null.
create or replace function reference.default_partition(parent regclass) returns regclass
language sql stable as $default_of$
    select c.oid::regclass from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = parent and pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'
$default_of$;

-- The partition of ``parent`` that holds ``period``, made if missing (in ``partition_schema``, named after the
-- parent and the period). The caller must own the parent. Serialised per parent and period, so two loaders
-- starting the same new month make it once.
create or replace function reference.ensure_period_partition(parent regclass, period text, partition_schema text)
returns regclass language plpgsql as $ensure$
declare
    bounds text[] := reference.period_bounds(period);
    base text;
    part_name text;
    found regclass;
    default_part regclass;
    stray bigint;
begin
    if bounds is null then
        raise exception 'period % is neither YYYY-MM nor YYYY: no partition for it', period;
    end if;
    perform pg_advisory_xact_lock(parent::oid::int, hashtext(period));
    select c.oid::regclass into found
    from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = parent
      and pg_get_expr(c.relpartbound, c.oid) = format('FOR VALUES FROM (%L) TO (%L)', bounds[1], bounds[2]);
    if found is not null then
        return found;
    end if;
    select relname into base from pg_class where oid = parent;
    base := regexp_replace(base, '__dbt_(tmp|backup)$', '');
    part_name := base || '_' || replace(period, '-', '_');
    -- dbt builds a fact anew beside the old one (name__dbt_tmp, then renamed): its partitions need other names.
    if to_regclass(format('%I.%I', partition_schema, part_name)) is not null then
        part_name := part_name || '_' || parent::oid;
    end if;
    default_part := reference.default_partition(parent);
    if default_part is not null then
        execute format('select count(*) from %s where period >= %L and period < %L', default_part, bounds[1], bounds[2])
            into stray;
    end if;
    if coalesce(stray, 0) = 0 then
        execute format('create table %I.%I partition of %s for values from (%L) to (%L)',
                       partition_schema, part_name, parent, bounds[1], bounds[2]);
    else
        -- Rows of this period landed in the default partition: move them into the new partition, then attach it.
        execute format('create table %I.%I (like %s including defaults including constraints)', partition_schema, part_name, parent);
        execute format('with moved as (delete from %s where period >= %L and period < %L returning *) insert into %I.%I select * from moved',
                       default_part, bounds[1], bounds[2], partition_schema, part_name);
        execute format('alter table %s attach partition %I.%I for values from (%L) to (%L)',
                       parent, partition_schema, part_name, bounds[1], bounds[2]);
    end if;
    return to_regclass(format('%I.%I', partition_schema, part_name));
end
$ensure$;

-- The DEFAULT partition of ``parent`` (named like the period partitions), made if missing.
create or replace function reference.ensure_default_partition(parent regclass, partition_schema text)
returns regclass language plpgsql as $default$
declare
    found regclass := reference.default_partition(parent);
    part_name text;
begin
    if found is not null then
        return found;
    end if;
    select regexp_replace(relname, '__dbt_(tmp|backup)$', '') || '_default' into part_name from pg_class where oid = parent;
    if to_regclass(format('%I.%I', partition_schema, part_name)) is not null then
        part_name := part_name || '_' || parent::oid;
    end if;
    execute format('create table %I.%I partition of %s default', partition_schema, part_name, parent);
    return to_regclass(format('%I.%I', partition_schema, part_name));
end
$default$;
grant execute on function reference.period_bounds(text), reference.default_partition(regclass),
    reference.ensure_period_partition(regclass, text, text), reference.ensure_default_partition(regclass, text) to public;
