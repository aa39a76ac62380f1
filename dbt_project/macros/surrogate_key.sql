{#- A stable text key from natural-key columns: the same code gives the same key in every build. -#}
{% macro surrogate_key(columns) -%}
    md5({% for column in columns %}coalesce(cast({{ column }} as text), '~null~'){% if not loop.last %} || '|' || {% endif %}{% endfor %})
{%- endmacro %}

{#- The key of each dimension's "unknown" member, so no fact key dangles. -#}
{% macro unknown_key() -%}'-1'{%- endmacro %}
