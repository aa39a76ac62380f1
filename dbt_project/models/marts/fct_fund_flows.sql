-- 资金收支事实: one row per movement of money, from the newest accepted drop of each prefecture and period.
-- Contract v2 money rules: a disbursement to a region of the same reporting unit is an internal transfer
-- (the county reports its own spending), so it is neither spent nor raised by the unit; money passed down
-- from the federation above is incoming but not raised; in-kind rows are flagged to be shown apart.
-- Contract v3: an opening balance (OPENING_BALANCE) is neither raised nor spent.
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='append_new_columns',
          partition_by_period='month',
          indexes=[{'columns': ['prefecture_code', 'period']}],
          pre_hook="{{ delete_changed_periods() }}", post_hook="{{ record_folded() }}") }}

with flows as (
    select
        f.*,
        s.prefecture_code,
        s.period,
        ft.direction,
        coalesce(f.flow_type = 'DISBURSEMENT' and recipient.reporting_unit_code = s.prefecture_code, false) as is_internal_transfer
    from {{ ref('stg_raw__funds') }} as f
    join {{ night_submissions() }} as s on s.submission_id = f.submission_id
    left join {{ ref('flow_types') }} as ft on ft.flow_type = f.flow_type
    left join {{ ref('stg_reference__admin_divisions') }} as recipient on recipient.region_code = f.recipient_region_code
)

select
    {{ date_key('f.txn_date') }}                                      as date_key,
    coalesce(r.region_key, {{ unknown_key() }})                       as region_key,
    coalesce(p.program_key, {{ unknown_key() }})                      as program_key,
    coalesce(fs.fund_source_key, {{ unknown_key() }})                 as fund_source_key,
    f.flow_type,
    f.direction,
    f.amount_yuan::numeric(18, 2)                                     as amount_yuan,
    -- an opening balance (contract v3) is money held, neither in nor out: it counts positive, so a year's
    -- signed sum is its closing balance
    (case when f.direction = 'out' then -f.amount_yuan else f.amount_yuan end)::numeric(18, 2) as signed_amount_yuan,
    f.in_kind,
    case when f.recipient_region_code is null then null
         else coalesce(recipient.region_key, {{ unknown_key() }}) end as recipient_region_key,
    f.is_internal_transfer,
    -- spent = expenditure + disbursements to outside the reporting unit
    (f.flow_type = 'EXPENDITURE' or (f.flow_type = 'DISBURSEMENT' and not f.is_internal_transfer)) as is_spent,
    -- raised = incoming except what the federation above passed down
    (f.flow_type = 'INCOMING' and f.fund_source_code <> 'SUPERIOR_FEDERATION') as is_raised,
    {{ mask_id_numbers('f.voucher_no') }}                             as voucher_no,
    {{ mask_id_numbers('f.counterparty') }}                           as counterparty,
    f.submission_id,
    f.prefecture_code,
    f.period
from flows as f
left join {{ ref('dim_region') }} as r on r.region_code = f.region_code
left join {{ ref('dim_region') }} as recipient on recipient.region_code = f.recipient_region_code
left join {{ ref('dim_program') }} as p on p.program_code = f.program_code
left join {{ ref('dim_fund_source') }} as fs on fs.fund_source_code = f.fund_source_code
