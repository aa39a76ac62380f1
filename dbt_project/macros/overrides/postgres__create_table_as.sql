{#- dbt-postgres 1.11.0's postgres__create_table_as (dbt/include/postgres/macros/adapters.sql), with PARTITION BY for
    the facts configured partition_by_period: CREATE TABLE ... PARTITION BY RANGE (period), the partitions of the
    night's periods (ensure_period_partitions, macros/period_partitions.sql), then the INSERT. Every other table
    takes upstream's path unchanged.
    Override of a dbt internal, fenced by tests/unit/test_dbt_overrides.py: it fails when the installed upstream
    macro no longer hashes to the one recorded in _macros.yml (re-check this copy against it, then update the hash). -#}
{% macro postgres__create_table_as(temporary, relation, sql) -%}
  {%- set partitioned = config.get('partition_by_period', false) and not temporary -%}
  {%- set unlogged = config.get('unlogged', default=false) -%}
  {%- set sql_header = config.get('sql_header', none) -%}
  {{ sql_header if sql_header is not none }}
  {%- if not partitioned %}
  create {% if temporary -%}
    temporary
  {%- elif unlogged -%}
    unlogged
  {%- endif %} table {{ relation }}
  {% set contract_config = config.get('contract') %}
  {% if contract_config.enforced %}
    {{ get_assert_columns_equivalent(sql) }}
  {% endif -%}
  {% if contract_config.enforced and (not temporary) -%}
      {{ get_table_columns_and_constraints() }} ;
    insert into {{ relation }} (
      {{ adapter.dispatch('get_column_names', 'dbt')() }}
    )
    {%- set sql = get_select_subquery(sql) %}
  {% else %}
    as
  {% endif %}
  (
    {{ sql }}
  );
  {%- else %}
  create table {{ relation }}
  {{ get_assert_columns_equivalent(sql) }}
  {{ get_table_columns_and_constraints() }}
  partition by range (period);
  {{ ensure_period_partitions(relation, "select period from " ~ night_relation('int_night_submissions') ~ " where submission_id is not null") }};
  insert into {{ relation }} (
    {{ adapter.dispatch('get_column_names', 'dbt')() }}
  )
  {%- set sql = get_select_subquery(sql) %}
  (
    {{ sql }}
  );
  {%- endif %}
{%- endmacro %}
