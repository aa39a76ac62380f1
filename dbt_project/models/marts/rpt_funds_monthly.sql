-- 月度资金收支: money in and out per reporting unit, period, program and fund source, on the contract's money
-- rules: internal transfers (a disbursement to a county of the same unit, which reports its own spending)
-- are shown but neither spent nor raised; money passed down by the federation above is incoming but not
-- raised; in-kind goods are shown apart from cash. Balances, with opening balances, are rpt_funds_balance's
-- (per year, contract v3): a running sum here would start from nothing and call it a balance.
{{ config(materialized='view', contract={'enforced': false}) }}

with flows as (
    select
        f.prefecture_code,
        f.period,
        p.program_code,
        p.name_zh                                                                      as program_name_zh,
        s.fund_source_code,
        s.name_zh                                                                      as fund_source_name_zh,
        sum(f.amount_yuan) filter (where f.flow_type = 'INCOMING' and not f.in_kind)   as incoming_cash_yuan,
        sum(f.amount_yuan) filter (where f.flow_type = 'INCOMING' and f.in_kind)       as incoming_in_kind_yuan,
        sum(f.amount_yuan) filter (where f.is_raised)                                  as raised_yuan,
        sum(f.amount_yuan) filter (where f.is_spent and not f.in_kind)                 as spent_cash_yuan,
        sum(f.amount_yuan) filter (where f.is_spent and f.in_kind)                     as spent_in_kind_yuan,
        sum(f.amount_yuan) filter (where f.is_internal_transfer)                       as internal_transfers_yuan
    from {{ ref('fct_fund_flows') }} as f
    join {{ ref('dim_program') }} as p using (program_key)
    join {{ ref('dim_fund_source') }} as s using (fund_source_key)
    group by 1, 2, 3, 4, 5, 6
)

select
    f.prefecture_code,
    r.name_zh                                                        as prefecture_name_zh,
    r.name_en                                                        as prefecture_name_en,
    f.period,
    f.program_code,
    f.program_name_zh,
    f.fund_source_code,
    f.fund_source_name_zh,
    coalesce(f.incoming_cash_yuan, 0)                                as incoming_cash_yuan,
    coalesce(f.incoming_in_kind_yuan, 0)                             as incoming_in_kind_yuan,
    coalesce(f.raised_yuan, 0)                                       as raised_yuan,
    coalesce(f.spent_cash_yuan, 0)                                   as spent_cash_yuan,
    coalesce(f.spent_in_kind_yuan, 0)                                as spent_in_kind_yuan,
    coalesce(f.internal_transfers_yuan, 0)                           as internal_transfers_yuan
from flows as f
left join {{ ref('dim_region') }} as r on r.region_code = f.prefecture_code
-- an opening balance alone is no month's money in or out
where f.incoming_cash_yuan is not null or f.incoming_in_kind_yuan is not null or f.spent_cash_yuan is not null
   or f.spent_in_kind_yuan is not null or f.internal_transfers_yuan is not null
