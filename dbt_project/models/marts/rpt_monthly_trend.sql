-- 月度趋势: per period, reporting unit and program; money on the contract's rules (raised excludes money
-- passed down from above, spent excludes internal transfers), cash and in-kind together. Sum over the
-- units for the whole province or country: each unit reports its own money and activity once.
{{ config(materialized='view', contract={'enforced': false}) }}

with money as (
    select period, prefecture_code, program_key,
           sum(amount_yuan) filter (where is_raised) as raised_yuan,
           sum(amount_yuan) filter (where is_spent) as spent_yuan
    from {{ ref('fct_fund_flows') }} group by 1, 2, 3
),

activity as (
    select period, prefecture_code, program_key, sum(events) as events, sum(beneficiaries) as beneficiary_visits
    from {{ ref('fct_program_activity') }} group by 1, 2, 3
)

select
    coalesce(m.period, a.period) as period,
    coalesce(m.prefecture_code, a.prefecture_code) as prefecture_code,
    r.name_zh as prefecture_name_zh,
    r.name_en as prefecture_name_en,
    p.program_code,
    p.name_zh as program_name_zh,
    coalesce(m.raised_yuan, 0) as raised_yuan,
    coalesce(m.spent_yuan, 0) as spent_yuan,
    coalesce(a.events, 0) as events,
    coalesce(a.beneficiary_visits, 0) as beneficiary_visits
from money as m
full join activity as a
    on a.period = m.period and a.prefecture_code = m.prefecture_code and a.program_key = m.program_key
join {{ ref('dim_program') }} as p on p.program_key = coalesce(m.program_key, a.program_key)
left join {{ ref('dim_region') }} as r on r.region_code = coalesce(m.prefecture_code, a.prefecture_code)
