{#- Data tests on an incremental night look at what the night changed; every row is checked on a full
    refresh and whenever HALFSKY_FULL_CHECKS is true (the default; halfsky's nightly build sets false
    except on Sundays, see halfsky.orchestration.run_context.full_checks and halfsky.warehouse.dbt_runner.night_env).
    Read from the environment, and only when a test runs: a var, or an env_var read while dbt parses, would
    make dbt reparse every test whenever it changes. -#}

{% macro full_checks() -%}
    {%- set asked = env_var('HALFSKY_FULL_CHECKS', 'true') -%}
    {{ return(flags.FULL_REFRESH or asked | lower in ['true', '1', 'yes']) }}
{%- endmacro %}

{#- Tests run only over the night's changes when the snapshot they are limited by exists. -#}
{% macro limited_checks() -%}
    {%- if not execute or full_checks() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set snapshot = night_relation('int_night_submissions') -%}
    {{ return(adapter.get_relation(database=snapshot.database, schema=snapshot.schema, identifier=snapshot.identifier) is not none) }}
{%- endmacro %}

{#- The snapshot's prefecture-periods a test looks at: the changed ones tonight, or all. -#}
{% macro checked_periods() -%}
    select prefecture_code, period, submission_id
    from {{ night_relation('int_night_submissions') }}
    where {{ 'changed' if limited_checks() else 'true' }}
{%- endmacro %}

{#- A predicate on a model's rows that keeps what the night changed; '' when everything is checked
    (generic tests get it through overrides/get_where_subquery.sql). -#}
{% macro night_predicate(relation) -%}
    {%- set name = relation.identifier if relation.identifier is defined else none -%}
    {%- if name is none or not limited_checks() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set snapshot = night_relation('int_night_submissions') -%}
    {%- if name in folded_models() and name.startswith('fct_') -%}
        {{ return("(prefecture_code, period) in (select prefecture_code, period from " ~ snapshot ~ " where changed)") }}
    {%- elif name == 'dim_beneficiary' -%}
        {%- set persons = night_relation('int_person_keys') -%}
        {#- source() resolves here, when the test runs, not when dbt parses it (limited_checks() is false then):
            raw.beneficiaries does not become a parent of dim_beneficiary's tests, whose selection
            (cautious indirect selection, Cosmos's tests of several parents) stays that of their model. -#}
        {{ return("beneficiary_key in (select p.beneficiary_key from " ~ persons ~ " as p where p.id_number in ("
                  ~ "select upper(trim(b.id_number)) from " ~ source('raw', 'beneficiaries') ~ " as b join " ~ snapshot
                  ~ " as s on s.submission_id = b.submission_id where s.changed))") }}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}
{#- In a singular test: the fact rows of the checked prefecture-periods (every row when all is checked). -#}
{% macro in_checked_periods(alias) -%}
    {%- if limited_checks() -%}
    ({{ alias }}.prefecture_code, {{ alias }}.period) in (
        select prefecture_code, period from {{ night_relation('int_night_submissions') }} where changed)
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}
