-- 受益人数汇总: distinct persons per program and year at every region level. Persons never add across
-- counties, so they are counted where they are rolled up; eligible ones apart, for coverage.
select
    left(b.period, 4)::int                                      as year,
    u.region_level,
    u.rollup_code                                               as region_code,
    p.program_code,
    count(distinct b.beneficiary_key)                           as persons,
    count(distinct b.beneficiary_key) filter (where b.is_eligible) as eligible_persons
from {{ ref('fct_benefits') }} as b
join {{ ref('dim_region') }} as r using (region_key)
join {{ ref('dim_program') }} as p using (program_key)
join {{ ref('int_region_rollup') }} as u on u.region_code = r.region_code
group by 1, 2, 3, 4
