{#- dbt wraps the model of every generic test in get_where_subquery: here it also gets the night's filter
    (night_predicate, macros/night_checks.sql), so an incremental night's tests look at what the night changed.
    Replaces dbt-adapters 1.24.5's get_where_subquery, which dispatches to default__get_where_subquery
    (dbt/include/global_project/macros/materializations/tests/where_subquery.sql): the `where` config is applied as
    upstream does, and-ed with the night's predicate.
    Override of a dbt internal, fenced by tests/unit/test_dbt_overrides.py: it fails when the installed upstream
    macro no longer hashes to the one recorded in _macros.yml (re-check this copy against it, then update the hash). -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set predicates = [] -%}
    {%- if where -%}{%- do predicates.append('(' ~ where ~ ')') -%}{%- endif -%}
    {%- set night = night_predicate(relation) -%}
    {%- if night -%}{%- do predicates.append(night) -%}{%- endif -%}
    {%- if predicates -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ predicates | join(' and ') ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
