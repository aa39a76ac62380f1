-- Free text in marts holds no id number (18 characters or 15 digits, with separators or without, as
-- halfsky.id_numbers.id_number_spans finds them): they are masked on the way in.
-- On an incremental night without full_checks: the rows of the changed prefecture-periods.
select submission_id, 'counterparty' as field
from {{ ref('fct_fund_flows') }} as f
where {{ in_checked_periods('f') }} and counterparty is distinct from reference.mask_id_numbers(counterparty)
union all
select submission_id, 'voucher_no'
from {{ ref('fct_fund_flows') }} as f
where {{ in_checked_periods('f') }} and voucher_no is distinct from reference.mask_id_numbers(voucher_no)
union all
select submission_id, 'population_source'
from {{ ref('fct_population') }} as f
where {{ in_checked_periods('f') }} and population_source is distinct from reference.mask_id_numbers(population_source)
union all
select submission_id, 'activity remarks'
from {{ ref('fct_program_activity') }} as f
where {{ in_checked_periods('f') }} and remarks is distinct from reference.mask_id_numbers(remarks)
union all
select submission_id, 'target remarks'
from {{ ref('fct_targets') }} as f
where {{ in_checked_periods('f') }} and remarks is distinct from reference.mask_id_numbers(remarks)
union all
select submission_id, 'drop_name'
from {{ ref('dim_submission') }}
where drop_name is distinct from reference.mask_id_numbers(drop_name)
union all
select submission_id, 'notes'
from {{ ref('dim_submission') }}
where notes is distinct from reference.mask_id_numbers(notes)
