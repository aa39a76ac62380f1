-- 资金结余: money in and out per program, prefecture and period, with the running balance.
{{ config(materialized='view', contract={'enforced': false}) }}

select
    f.prefecture_code,
    r.name_zh                                                        as prefecture_name_zh,
    f.period,
    p.program_code,
    p.name_zh                                                        as program_name_zh,
    sum(f.amount_yuan) filter (where f.direction = 'in')             as incoming_yuan,
    sum(f.amount_yuan) filter (where f.direction = 'out')            as outgoing_yuan,
    sum(f.signed_amount_yuan)                                        as net_yuan,
    sum(sum(f.signed_amount_yuan)) over (
        partition by f.prefecture_code, p.program_code order by f.period
    )                                                                as balance_to_date_yuan
from {{ ref('fct_fund_flows') }} as f
join {{ ref('dim_program') }} as p using (program_key)
left join {{ ref('dim_region') }} as r on r.region_code = f.prefecture_code
group by 1, 2, 3, 4, 5
