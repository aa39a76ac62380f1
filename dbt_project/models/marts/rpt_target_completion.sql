-- 年度任务完成情况: each target of a year against what was done, rolled up to every region level
-- (county, prefecture, reporting unit, province). Ili's counties count under prefecture 654000 (州直);
-- 塔城 and 阿勒泰 under their own prefectures, and all three under reporting unit 654000 (全州).
-- Targets of a region and of counties inside it add up: send one or the other.
{{ config(materialized='view', contract={'enforced': false}) }}

with targets as (
    select t.year, r.region_code, p.program_code, i.indicator_code, sum(t.target_value) as target_value
    from {{ ref('fct_targets') }} as t
    join {{ ref('dim_region') }} as r using (region_key)
    join {{ ref('dim_program') }} as p using (program_key)
    join {{ ref('dim_indicator') }} as i using (indicator_key)
    group by 1, 2, 3, 4
),

targets_rolled as (
    select t.year, u.region_level, u.rollup_code as region_code, t.program_code, t.indicator_code,
           sum(t.target_value) as target_value
    from targets as t
    join {{ ref('int_region_rollup') }} as u using (region_code)
    group by 1, 2, 3, 4, 5
),

additive_rolled as (
    select a.year, u.region_level, u.rollup_code as region_code, a.program_code, a.measure as indicator_code,
           sum(a.value) as actual_value
    from {{ ref('int_program_actuals') }} as a
    join {{ ref('int_region_rollup') }} as u using (region_code)
    group by 1, 2, 3, 4, 5
),

-- contract v3: persons from persons_ytd, else a complete line list, else no figure (int_persons_reached)
persons_rolled as (
    select year, region_level, region_code, program_code, 'DISTINCT_PERSONS' as indicator_code,
           persons::numeric as actual_value, numerator_source, as_of_period
    from {{ ref('int_persons_reached') }}
),

actuals as (
    select *, null::text as numerator_source, null::text as as_of_period from additive_rolled
    union all
    select * from persons_rolled
),

as_of as (
    select date '{{ env_var("HALFSKY_AS_OF_DATE", "2026-10-21") }}' as day
)

select
    t.year,
    t.region_level,
    t.region_code,
    r.name_zh                                                       as region_name_zh,
    r.name_en                                                       as region_name_en,
    t.program_code,
    t.indicator_code,
    t.target_value,
    -- an additive measure nobody reported is 0; distinct persons nobody can count are unknown (null)
    case when t.indicator_code = 'DISTINCT_PERSONS' then a.actual_value else coalesce(a.actual_value, 0) end as actual_value,
    round(case when t.indicator_code = 'DISTINCT_PERSONS' then a.actual_value else coalesce(a.actual_value, 0) end
          / nullif(t.target_value, 0), 4)                           as completion_rate,
    round(greatest(0, least(1,
        ((select day from as_of) - make_date(t.year, 1, 1) + 1)::numeric
        / (make_date(t.year + 1, 1, 1) - make_date(t.year, 1, 1)))), 4) as year_elapsed_share,
    a.numerator_source,
    coalesce(a.as_of_period, m.newest_period)                       as as_of_period,
    m.months_reported,
    m.months_reported_prior_year
from targets_rolled as t
left join actuals as a
    on a.year = t.year and a.region_level = t.region_level and a.region_code = t.region_code
   and a.program_code = t.program_code and a.indicator_code = t.indicator_code
left join {{ ref('int_months_reported') }} as m
    on m.region_level = t.region_level and m.region_code = t.region_code and m.year = t.year and m.month = 12
left join {{ ref('dim_region') }} as r on r.region_code = t.region_code
