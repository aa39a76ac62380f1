-- Free text in marts holds no id number (18 digits with a valid check digit): they are masked on the way in.
select submission_id, 'counterparty' as field
from {{ ref('fct_fund_flows') }}
where counterparty is distinct from reference.mask_id_numbers(counterparty)
union all
select submission_id, 'voucher_no'
from {{ ref('fct_fund_flows') }}
where voucher_no is distinct from reference.mask_id_numbers(voucher_no)
