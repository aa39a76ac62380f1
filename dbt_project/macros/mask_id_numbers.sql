{#- Free text copied to marts (counterparty, voucher_no, population_source) can hold an id number someone
    typed into it: 王秀英(身份证150100198503150022), 150302 19850315 000X, 150302850315001. reference.mask_id_numbers
    (created by halfsky.warehouse.schema from halfsky.contract.id_numbers' patterns, the ones every log, XCom and report is masked
    with) replaces each, 18 characters or 15 digits, separators and all, by a marker. -#}
{% macro mask_id_numbers(column) -%}
    reference.mask_id_numbers({{ column }})
{%- endmacro %}
