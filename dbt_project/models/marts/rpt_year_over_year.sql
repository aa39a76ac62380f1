-- 同比: each measure of indicators.csv summed from January to the period, against the same months of the
-- year before, at every region level. Distinct persons are left out: they do not add across months.
{{ config(materialized='view', contract={'enforced': false}) }}

with monthly as (
    select a.period, a.year, right(a.period, 2) as month, u.region_level, u.rollup_code as region_code,
           a.program_code, a.measure, sum(a.value) as value
    from {{ ref('int_program_actuals') }} as a
    join {{ ref('int_region_rollup') }} as u using (region_code)
    group by 1, 2, 3, 4, 5, 6, 7
),

report_periods as (
    select distinct period, year, right(period, 2) as month from monthly
),

ytd as (
    select k.period, m.region_level, m.region_code, m.program_code, m.measure,
           coalesce(sum(m.value) filter (where m.year = k.year), 0)     as value_ytd,
           sum(m.value) filter (where m.year = k.year - 1)               as value_ytd_prior_year
    from report_periods as k
    join monthly as m on m.year in (k.year, k.year - 1) and m.month <= k.month
    group by 1, 2, 3, 4, 5
)

-- contract v3: a change over unequal months reported (a month not sent) is null, never a decline
select
    y.period,
    y.region_level,
    y.region_code,
    r.name_zh                                                       as region_name_zh,
    r.name_en                                                       as region_name_en,
    y.program_code,
    y.measure,
    y.value_ytd,
    y.value_ytd_prior_year,
    m.months_reported,
    m.months_reported_prior_year,
    case when m.months_reported = m.months_reported_prior_year
         then y.value_ytd - y.value_ytd_prior_year end              as change,
    case when m.months_reported = m.months_reported_prior_year
         then round((y.value_ytd - y.value_ytd_prior_year) / nullif(y.value_ytd_prior_year, 0), 4) end as change_rate
from ytd as y
left join {{ ref('int_months_reported') }} as m
    on m.region_level = y.region_level and m.region_code = y.region_code
   and m.year = left(y.period, 4)::int and m.month = right(y.period, 2)::int
left join {{ ref('dim_region') }} as r on r.region_code = y.region_code
