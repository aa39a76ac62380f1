{#- Foreign keys on the facts, for BI tools to see the star (declared as dbt constraints in the marts' YAML).

    A key that Postgres enforces checks every row a table receives: 17 times slower here for a million
    fact rows with four keys (0.68 s against 11.6 s), minutes on a national month-end. The relationships
    tests already check every key. So a fact's keys are dropped before its rows change (pre-hook) and added
    back NOT VALID after (post-hook): instant, listed in the catalogue, never re-checked. CREATE TABLE leaves
    them out for the same reason (overrides/postgres__get_table_columns_and_constraints.sql).

    A dimension rebuilt as a table drops the keys that point at it (dbt drops the old table with cascade);
    the facts' next build adds them back. Keys are added in the order of the tables they point at, so two
    facts built at once wait for each other rather than deadlock. -#}
{% macro foreign_keys(action) -%}
  {%- set keys = [] -%}
  {%- for column in model['columns'].values() -%}
    {%- for c in column.get('constraints', []) if c['type'] == 'foreign_key' -%}
      {%- set named = modules.re.match("^ref\\(['\"](\\w+)['\"]\\)$", c['to'] | trim) -%}
      {%- set target = ref(named.group(1)) if named else c['to'] -%}
      {%- do keys.append({'column': column['name'], 'target': target | string, 'to_columns': c['to_columns'],
                          'name': this.identifier ~ '_' ~ column['name'] ~ '_fkey'}) -%}
    {%- endfor -%}
  {%- endfor -%}
  {#- PostgreSQL before 18 cannot add a NOT VALID key to a partitioned table, and a validated one would read every
      row of the history each night: those facts keep their keys as relationships tests only. They still lock
      the dimensions the keys would point at, in the same order as the other facts' key drops do (access share:
      they read them), so a fact dropping its keys and a partitioned fact reading the dimensions never deadlock. -#}
  {%- if config.get('partition_by_period', false) and execute
        and (run_query("select current_setting('server_version_num')::int").columns[0].values()[0]) < 180000 -%}
    {%- if action == 'drop' -%}
      {%- for target in keys | map(attribute='target') | unique | sort %}
lock table {{ target }} in access share mode;
      {%- endfor -%}
    {%- endif -%}
    {%- do keys.clear() -%}
  {%- endif -%}
  {%- for key in keys | sort(attribute='target') -%}
    {%- if action == 'drop' %}
alter table if exists {{ this }} drop constraint if exists {{ adapter.quote(key['name']) }};
    {%- else %}
alter table {{ this }} add constraint {{ adapter.quote(key['name']) }}
    foreign key ({{ adapter.quote(key['column']) }}) references {{ key['target'] }} ({{ key['to_columns'] | join(', ') }}) not valid;
    {%- endif -%}
  {%- endfor -%}
{%- endmacro %}
