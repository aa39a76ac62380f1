{#- Dimension lookups shared by the facts: a missing match becomes the unknown member. -#}
{% macro date_key(date_column) -%}
    coalesce((select d.date_key from {{ ref('dim_date') }} as d where d.date = {{ date_column }}), -1)
{%- endmacro %}

{#- Facts load only prefecture-periods whose newest accepted drop changed since the last build. -#}
{% macro changed_periods_only(alias) -%}
    {% if is_incremental() %}
    and ({{ alias }}.prefecture_code, {{ alias }}.period, {{ alias }}.submission_id) not in (
        select distinct prefecture_code, period, submission_id from {{ this }}
    )
    {% endif %}
{%- endmacro %}
