-- 人均成本: per reporting unit, year and program, spending (expenditure + disbursements outside the unit;
-- cash and in-kind apart) per person-time of the activity form, and cash paid per distinct person paid in
-- the line list. The line list is not a census of everyone served, so it never divides the spending.
{{ config(materialized='view', contract={'enforced': false}) }}

with spend as (
    select f.prefecture_code, left(f.period, 4)::int as year, f.program_key,
           coalesce(sum(f.amount_yuan) filter (where not f.in_kind), 0) as spent_cash_yuan,
           coalesce(sum(f.amount_yuan) filter (where f.in_kind), 0) as spent_in_kind_yuan
    from {{ ref('fct_fund_flows') }} as f
    where f.is_spent
    group by 1, 2, 3
),

served as (
    select a.prefecture_code, left(a.period, 4)::int as year, a.program_key, sum(a.beneficiaries) as person_times
    from {{ ref('fct_program_activity') }} as a
    group by 1, 2, 3
),

paid as (
    select b.prefecture_code, left(b.period, 4)::int as year, b.program_key,
           count(distinct b.beneficiary_key) as distinct_persons,
           count(distinct b.beneficiary_key) filter (where b.benefit_type = 'CASH') as persons_paid_cash,
           coalesce(sum(b.amount_yuan) filter (where b.benefit_type = 'CASH'), 0) as cash_paid_yuan
    from {{ ref('fct_benefits') }} as b
    group by 1, 2, 3
),

grid as (
    select prefecture_code, year, program_key from spend
    union select prefecture_code, year, program_key from served
    union select prefecture_code, year, program_key from paid
)

select
    g.prefecture_code,
    g.year,
    p.program_code,
    p.name_zh                                                                   as program_name_zh,
    coalesce(s.spent_cash_yuan, 0)                                              as spent_cash_yuan,
    coalesce(s.spent_in_kind_yuan, 0)                                           as spent_in_kind_yuan,
    coalesce(s.spent_cash_yuan, 0) + coalesce(s.spent_in_kind_yuan, 0)          as spent_yuan,
    coalesce(v.person_times, 0)                                                 as person_times,
    round((coalesce(s.spent_cash_yuan, 0) + coalesce(s.spent_in_kind_yuan, 0)) / nullif(v.person_times, 0), 2)
                                                                                as cost_per_person_time_yuan,
    coalesce(d.distinct_persons, 0)                                             as distinct_persons,
    coalesce(d.persons_paid_cash, 0)                                            as persons_paid_cash,
    coalesce(d.cash_paid_yuan, 0)                                               as cash_paid_yuan,
    round(d.cash_paid_yuan / nullif(d.persons_paid_cash, 0), 2)                 as cash_per_person_paid_yuan
from grid as g
join {{ ref('dim_program') }} as p on p.program_key = g.program_key
left join spend as s on s.prefecture_code = g.prefecture_code and s.year = g.year and s.program_key = g.program_key
left join served as v on v.prefecture_code = g.prefecture_code and v.year = g.year and v.program_key = g.program_key
left join paid as d on d.prefecture_code = g.prefecture_code and d.year = g.year and d.program_key = g.program_key
