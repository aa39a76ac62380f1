-- 人均成本: spending per distinct person reached, per program, prefecture and year.
{{ config(materialized='view', contract={'enforced': false}) }}

with spend as (
    select f.prefecture_code, left(f.period, 4)::int as year, f.program_key, sum(f.amount_yuan) as spent_yuan
    from {{ ref('fct_fund_flows') }} as f
    where f.direction = 'out'
    group by 1, 2, 3
),

reached as (
    select b.prefecture_code, left(b.period, 4)::int as year, b.program_key,
           count(distinct b.beneficiary_key) as distinct_beneficiaries, count(*) as benefits_delivered
    from {{ ref('fct_benefits') }} as b
    group by 1, 2, 3
)

select
    coalesce(s.prefecture_code, r.prefecture_code)                  as prefecture_code,
    coalesce(s.year, r.year)                                         as year,
    p.program_code,
    p.name_zh                                                        as program_name_zh,
    coalesce(s.spent_yuan, 0)                                        as spent_yuan,
    coalesce(r.distinct_beneficiaries, 0)                            as distinct_beneficiaries,
    coalesce(r.benefits_delivered, 0)                                as benefits_delivered,
    round(s.spent_yuan / nullif(r.distinct_beneficiaries, 0), 2)     as cost_per_beneficiary_yuan
from spend as s
full join reached as r on r.prefecture_code = s.prefecture_code and r.year = s.year and r.program_key = s.program_key
join {{ ref('dim_program') }} as p on p.program_key = coalesce(s.program_key, r.program_key)
