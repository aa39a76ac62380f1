-- 资金年度结余 (contract v3): per reporting unit, program, fund source and year, cash (in-kind apart):
-- opening balance + incoming (money passed down included) - spent = closing balance. The opening balance is
-- the one declared in the January drop (OPENING_BALANCE), else the previous year's closing carried over from
-- the unit's first report on, which balance_basis says; null in a first year without a declaration. An
-- opening balance is never raised, incoming or spent.
{{ config(materialized='view', contract={'enforced': false}) }}

with yearly as (
    select
        f.prefecture_code,
        left(f.period, 4)::int                                                          as year,
        p.program_code,
        p.name_zh                                                                       as program_name_zh,
        s.fund_source_code,
        s.name_zh                                                                       as fund_source_name_zh,
        bool_or(f.flow_type = 'OPENING_BALANCE' and not f.in_kind)                     as declared,
        coalesce(sum(f.amount_yuan) filter (where f.flow_type = 'OPENING_BALANCE' and not f.in_kind), 0) as declared_yuan,
        coalesce(sum(f.amount_yuan) filter (where f.flow_type = 'INCOMING' and not f.in_kind), 0) as incoming_yuan,
        coalesce(sum(f.amount_yuan) filter (where f.is_raised and not f.in_kind), 0)   as raised_yuan,
        coalesce(sum(f.amount_yuan) filter (where f.is_spent and not f.in_kind), 0)    as spent_yuan,
        coalesce(sum(f.amount_yuan) filter (where f.flow_type = 'INCOMING' and f.in_kind), 0) as incoming_in_kind_yuan,
        coalesce(sum(f.amount_yuan) filter (where f.is_spent and f.in_kind), 0)        as spent_in_kind_yuan,
        coalesce(sum(f.amount_yuan) filter (where f.is_internal_transfer), 0)          as internal_transfers_yuan
    from {{ ref('fct_fund_flows') }} as f
    join {{ ref('dim_program') }} as p using (program_key)
    join {{ ref('dim_fund_source') }} as s using (fund_source_key)
    group by 1, 2, 3, 4, 5, 6
),

-- A declaration starts a new run of years; within a run the balance carries from year to year.
runs as (
    select *,
           count(*) filter (where declared) over key_years as run
    from yearly
    window key_years as (partition by prefecture_code, program_code, fund_source_code order by year)
),

closing as (
    select *,
           max(declared_yuan) filter (where declared) over run_years
           + sum(incoming_yuan - spent_yuan) over run_years                             as closing_declared,
           sum(incoming_yuan - spent_yuan) over run_years                              as closing_since_first
    from runs
    window run_years as (partition by prefecture_code, program_code, fund_source_code, run order by year)
),

balances as (
    select *,
           case when run > 0 then closing_declared else closing_since_first end           as closing_balance_yuan,
           case when run > 0 then 'opening_balance' else 'since_first_report' end         as balance_basis
    from closing
)

select
    b.prefecture_code,
    r.name_zh                                                        as prefecture_name_zh,
    r.name_en                                                        as prefecture_name_en,
    b.year,
    b.program_code,
    b.program_name_zh,
    b.fund_source_code,
    b.fund_source_name_zh,
    case when b.declared then b.declared_yuan
         else lag(b.closing_balance_yuan) over (partition by b.prefecture_code, b.program_code, b.fund_source_code
                                                order by b.year) end as opening_balance_yuan,
    b.incoming_yuan,
    b.raised_yuan,
    b.spent_yuan,
    b.closing_balance_yuan,
    b.balance_basis,
    b.incoming_in_kind_yuan,
    b.spent_in_kind_yuan,
    b.internal_transfers_yuan,
    m.months_reported
from balances as b
left join {{ ref('int_months_reported') }} as m
    on m.region_level = 'reporting_unit' and m.region_code = b.prefecture_code and m.year = b.year and m.month = 12
left join {{ ref('dim_region') }} as r on r.region_code = b.prefecture_code
