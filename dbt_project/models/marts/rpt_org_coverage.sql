-- 基层组织覆盖率 (contract v3): how many townships and villages have a federation, a women's home, a woman on
-- the village committees (两委) and the federation chair on them, against the townships and villages there are,
-- rolled up to every region level like the other reports. Ili's counties count under prefecture 654000 (州直),
-- 塔城's and 阿勒泰's under their own prefectures, and all three under reporting unit 654000 (全州), which is
-- their sum, never a row of its own.
-- A county that left an optional count empty did not report that measure: it counts neither in covered nor in
-- total nor in counties, so a rate is over the counties that reported it, never a guess of zero.
{{ config(materialized='view', contract={'enforced': false}) }}

with counties as (
    select f.year, r.region_code, f.townships, f.townships_with_federation, f.villages, f.villages_with_federation,
           f.villages_with_womens_home, f.committees_with_women, f.chairs_in_committee
    from {{ ref('fct_grassroots') }} as f
    join {{ ref('dim_region') }} as r using (region_key)
),

measures as (
    -- one row per county and measure it reported, with the total the measure is bounded by
    select c.year, c.region_code, m.measure, m.covered, m.total
    from counties as c
    cross join lateral (values
        ('townships_with_federation', c.townships_with_federation, c.townships),
        ('villages_with_federation',  c.villages_with_federation,  c.villages),
        ('villages_with_womens_home', c.villages_with_womens_home, c.villages),
        ('committees_with_women',     c.committees_with_women,     c.villages),
        ('chairs_in_committee',       c.chairs_in_committee,       c.villages)
    ) as m(measure, covered, total)
    where m.covered is not null and m.total is not null
),

rolled as (
    select
        m.year,
        u.region_level,
        u.rollup_code                                                      as region_code,
        m.measure,
        sum(m.covered)                                                     as covered,
        sum(m.total)                                                       as total,
        count(*)                                                           as counties,
        count(*) filter (where m.covered = m.total and m.total > 0)        as counties_fully_covered
    from measures as m
    join {{ ref('int_region_rollup') }} as u using (region_code)
    group by 1, 2, 3, 4
)

select
    x.year,
    x.region_level,
    x.region_code,
    r.name_zh                                                            as region_name_zh,
    r.name_en                                                            as region_name_en,
    x.measure,
    x.covered,
    x.total,
    round(x.covered::numeric / nullif(x.total, 0), 4)                    as coverage_rate,
    (x.total > 0 and x.covered = x.total)                                as is_fully_covered,
    x.counties::int                                                      as counties,
    x.counties_fully_covered::int                                        as counties_fully_covered
from rolled as x
left join {{ ref('dim_region') }} as r on r.region_code = x.region_code
