-- 资金收支事实: one row per movement of money, from the newest accepted drop of each prefecture and period.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key=['prefecture_code', 'period'],
          on_schema_change='fail', pre_hook="{{ delete_rows_of_replaced_drops() }}") }}

select
    {{ date_key('f.txn_date') }}                                      as date_key,
    coalesce(r.region_key, {{ unknown_key() }})                       as region_key,
    coalesce(p.program_key, {{ unknown_key() }})                      as program_key,
    coalesce(fs.fund_source_key, {{ unknown_key() }})                 as fund_source_key,
    f.flow_type,
    ft.direction,
    f.amount_yuan::numeric(18, 2)                                     as amount_yuan,
    (case when ft.direction = 'in' then f.amount_yuan else -f.amount_yuan end)::numeric(18, 2) as signed_amount_yuan,
    {{ mask_id_numbers('f.voucher_no') }}                             as voucher_no,
    {{ mask_id_numbers('f.counterparty') }}                           as counterparty,
    f.submission_id,
    s.prefecture_code,
    s.period
from {{ ref('stg_raw__funds') }} as f
join {{ ref('int_newest_submissions') }} as s on s.submission_id = f.submission_id
left join {{ ref('flow_types') }} as ft on ft.flow_type = f.flow_type
left join {{ ref('dim_region') }} as r on r.region_code = f.region_code
left join {{ ref('dim_program') }} as p on p.program_code = f.program_code
left join {{ ref('dim_fund_source') }} as fs on fs.fund_source_code = f.fund_source_code
where true {{ changed_periods_only('s') }}
