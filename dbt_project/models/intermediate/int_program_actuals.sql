-- 项目实绩: what each county (or prefecture-level row) did per program and month, one row per measure,
-- computed as indicators.csv says. Additive measures only: distinct persons are counted where they are
-- rolled up (rpt_target_completion), since persons do not add across counties or months.
with activity as (
    select a.period, r.region_code, p.program_code,
           sum(a.beneficiaries) as person_times, sum(a.events) as events,
           sum(a.quantity) as quantity, sum(a.volunteers) as volunteer_times
    from {{ ref('fct_program_activity') }} as a
    join {{ ref('dim_region') }} as r using (region_key)
    join {{ ref('dim_program') }} as p using (program_key)
    group by 1, 2, 3
),

money as (
    select f.period, r.region_code, p.program_code,
           sum(f.amount_yuan) filter (where f.is_raised) as funds_raised,
           sum(f.amount_yuan) filter (where f.is_spent) as funds_spent
    from {{ ref('fct_fund_flows') }} as f
    join {{ ref('dim_region') }} as r using (region_key)
    join {{ ref('dim_program') }} as p using (program_key)
    group by 1, 2, 3
),

cash as (
    select b.period, r.region_code, p.program_code, sum(b.amount_yuan) as cash_paid
    from {{ ref('fct_benefits') }} as b
    join {{ ref('dim_region') }} as r using (region_key)
    join {{ ref('dim_program') }} as p using (program_key)
    where b.benefit_type = 'CASH'
    group by 1, 2, 3
),

measures as (
    select period, region_code, program_code, 'PERSON_TIMES' as measure, person_times::numeric as value from activity
    union all select period, region_code, program_code, 'EVENTS', events::numeric from activity
    union all select period, region_code, program_code, 'QUANTITY', quantity::numeric from activity where quantity is not null
    union all select period, region_code, program_code, 'VOLUNTEER_TIMES', volunteer_times::numeric from activity
    union all select period, region_code, program_code, 'FUNDS_RAISED', funds_raised from money where funds_raised is not null
    union all select period, region_code, program_code, 'FUNDS_SPENT', funds_spent from money where funds_spent is not null
    union all select period, region_code, program_code, 'CASH_PAID', cash_paid from cash
)

select period, left(period, 4)::int as year, region_code, program_code, measure, value
from measures
