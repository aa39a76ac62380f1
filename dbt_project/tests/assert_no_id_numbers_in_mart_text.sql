-- Free text in marts holds no id number (18 characters or 15 digits, with separators or without, as
-- halfsky.contract.id_numbers.id_number_spans finds them): they are masked on the way in.
-- On an incremental night without full_checks: the rows of the changed prefecture-periods.
{%- set free_text = [
    ('fct_fund_flows', 'counterparty', true), ('fct_fund_flows', 'voucher_no', true),
    ('fct_population', 'population_source', true), ('fct_program_activity', 'remarks', true),
    ('fct_targets', 'remarks', true), ('dim_submission', 'drop_name', false), ('dim_submission', 'notes', false),
] %}
{% for model, column, by_period in free_text %}
select submission_id, '{{ model }}.{{ column }}' as field
from {{ ref(model) }} as f
where {% if by_period %}{{ in_checked_periods('f') }}{% else %}true{% endif %}
  and {{ column }} is distinct from reference.mask_id_numbers({{ column }})
{% if not loop.last %}union all{% endif %}
{% endfor %}
