{#- Dimension lookups shared by the facts: a missing match becomes the unknown member. -#}
{#- date_key is yyyymmdd by construction, so it is computed, not looked up row by row;
    days outside dim_date's span (and nulls) get the unknown date, -1. -#}
{% macro date_key(date_column) -%}
    case
        when {{ date_column }} between date '{{ var("dim_date_start") }}' and date '{{ var("dim_date_end") }}'
        then to_char({{ date_column }}, 'YYYYMMDD')::int
        else -1
    end
{%- endmacro %}
