{#- CREATE TABLE with the contract's columns and constraints, but no foreign key: dbt-adapters 1.24.5's
    default__get_table_columns_and_constraints / table_columns_and_constraints
    (dbt/include/global_project/macros/relations/column/columns_spec_ddl.sql) with the foreign_key constraints left
    out, column and model ones alike. The facts' keys are added NOT VALID by the post-hook instead (foreign_keys,
    macros/foreign_keys.sql, says why). dbt-postgres has no postgres__ version of its own: get_table_columns_and_constraints
    dispatches to this one.
    Override of a dbt internal, fenced by tests/unit/test_dbt_overrides.py: it fails when the installed upstream
    macro no longer hashes to the one recorded in _macros.yml (re-check this copy against it, then update the hash). -#}
{% macro postgres__get_table_columns_and_constraints() -%}
  {%- set columns = {} -%}
  {%- for name, column in model['columns'].items() -%}
    {%- set kept = [] -%}
    {%- for c in column.get('constraints', []) if c['type'] != 'foreign_key' -%}{%- do kept.append(c) -%}{%- endfor -%}
    {%- set copy = {} -%}
    {%- do copy.update(column) -%}
    {%- do copy.update({'constraints': kept}) -%}
    {%- do columns.update({name: copy}) -%}
  {%- endfor -%}
  {%- set model_constraints = [] -%}
  {%- for c in model.get('constraints', []) if c['type'] != 'foreign_key' -%}{%- do model_constraints.append(c) -%}{%- endfor -%}
  {%- set raw_column_constraints = adapter.render_raw_columns_constraints(raw_columns=columns) -%}
  {%- set raw_model_constraints = adapter.render_raw_model_constraints(raw_constraints=model_constraints) -%}
    (
    {% for c in raw_column_constraints -%}
      {{ c }}{{ "," if not loop.last or raw_model_constraints }}
    {% endfor %}
    {% for c in raw_model_constraints -%}
        {{ c }}{{ "," if not loop.last }}
    {% endfor -%}
    )
{%- endmacro %}
