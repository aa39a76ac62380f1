{#- Views are replaced in place (CREATE OR REPLACE VIEW) rather than built beside and swapped in. dbt's
    default renames the old view away and drops it with cascade, which takes every view built on it down
    too until that view's own build: BI users querying during a night meet "relation does not exist", and a
    build that selects a view but not the views on it (a reference view alone) loses them for good.
    Postgres refuses to replace a view whose existing columns change name or type; only then is the old one
    dropped, with the views on it, and the new one created, as dbt's default would.
    Derived from dbt-adapters 1.24.5's `materialization view, default`
    (dbt/include/global_project/macros/materializations/models/view.sql): the same hooks, grants and docs, without
    its intermediate and backup relations. dbt-postgres has no view materialization of its own.
    Override of a dbt internal, fenced by tests/unit/test_dbt_overrides.py: it fails when the installed upstream
    macro no longer hashes to the one recorded in _macros.yml (re-check this copy against it, then update the hash). -#}
{%- materialization view, adapter='postgres' -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type='view') -%}
  {%- set grant_config = config.get('grants') -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {%- if existing_relation is not none and not existing_relation.is_view %}
    {{ drop_relation_if_exists(existing_relation) }}
  {%- endif %}

  {#- one statement, without its closing semicolon, for EXECUTE -#}
  {%- set create_sql = get_create_view_as_sql(target_relation, sql) | trim -%}
  {%- set create_sql = create_sql[:-1] if create_sql.endswith(';') else create_sql -%}
  {%- set replace_sql = modules.re.sub('create view', 'create or replace view', create_sql, count=1) -%}
  {% call statement('main') -%}
    do $halfsky_view$
    begin
      execute $halfsky_sql${{ replace_sql }}$halfsky_sql$;
    exception when invalid_table_definition then  -- a column renamed, dropped or retyped
      execute $halfsky_sql$drop view if exists {{ target_relation }} cascade$halfsky_sql$;
      execute $halfsky_sql${{ create_sql }}$halfsky_sql$;
    end
    $halfsky_view$
  {%- endcall %}

  {% set should_revoke = should_revoke(existing_relation, full_refresh_mode=True) %}
  {% do apply_grants(target_relation, grant_config, should_revoke=should_revoke) %}
  {% do persist_docs(target_relation, model) %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}
{%- endmaterialization -%}
