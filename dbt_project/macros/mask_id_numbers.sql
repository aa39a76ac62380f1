{#- Free text copied to marts (counterparty, voucher_no) can hold an id number someone typed into
    it: 王秀英(身份证150100198503150022). reference.mask_id_numbers (created by halfsky.warehouse)
    replaces every 18-digit number with a valid GB 11643 check digit by a marker. -#}
{% macro mask_id_numbers(column) -%}
    reference.mask_id_numbers({{ column }})
{%- endmacro %}
