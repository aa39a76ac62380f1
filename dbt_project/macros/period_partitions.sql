{#- Facts partitioned by period (config partition_by_period='month', or 'year' for an annual form's): RANGE
    on `period`, one partition per month (year), made on demand by reference.ensure_period_partition (halfsky.warehouse.partitions) in the schema
    marts_partitions, which analysts do not browse; a DEFAULT partition catches anything else.

    Built whole: CREATE TABLE ... PARTITION BY, the partitions of every period of the night's snapshot, then
    the INSERT (overrides/postgres__create_table_as.sql). On incremental nights the pre-hook makes the partitions of the periods being redone before
    the rows of the night are appended (dbt's append strategy inserts from a temporary table). -#}

{% macro partition_schema() -%}marts_partitions{%- endmacro %}

{#- The partitions for every period ``periods_sql`` (a query of one `period` column) returns that is of the
    model's kind: the night's snapshot holds the annual forms' periods ('2026') beside the monthly ones. -#}
{% macro ensure_period_partitions(relation, periods_sql) -%}
{%- set pattern = '^[0-9]{4}$' if config.get('partition_by_period') == 'year' else '^[0-9]{4}-[0-9]{2}$' -%}
select reference.ensure_default_partition('{{ relation }}'::regclass, '{{ partition_schema() }}');
select reference.ensure_period_partition('{{ relation }}'::regclass, periods.period, '{{ partition_schema() }}')
from (select distinct period from ({{ periods_sql }}) as wanted where period ~ '{{ pattern }}' order by 1) as periods
{%- endmacro %}
