{#- Schemas are the layer names themselves (staging, intermediate, marts, reference),
    not dbt's default <target>_<custom> prefixing: analysts and grants name them directly. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name is not none else target.schema }}
{%- endmacro %}
