-- 本年累计受益人数 (contract v3): distinct persons a program reached in a year, at every region level.
-- From persons_ytd where units sent it: per key (region x program x group) the newest month of the year that
-- reports it, added over regions and groups. Else, only for a program whose line list is complete
-- (programs.csv line_list_complete), the distinct persons of the line list; for any other program the line
-- list is a sample of who was served, so there is no figure at all (null), never a count of a sample.
with key_newest as (
    select distinct on (left(a.period, 4), r.region_code, p.program_code, a.beneficiary_group_key)
           left(a.period, 4)::int as year, r.region_code, p.program_code, a.period, a.persons_ytd
    from {{ ref('fct_program_activity') }} as a
    join {{ ref('dim_region') }} as r using (region_key)
    join {{ ref('dim_program') }} as p using (program_key)
    where a.persons_ytd is not null
    order by left(a.period, 4), r.region_code, p.program_code, a.beneficiary_group_key, a.period desc
),

from_persons_ytd as (
    select k.year, u.region_level, u.rollup_code as region_code, k.program_code,
           sum(k.persons_ytd) as persons, max(k.period) as as_of_period
    from key_newest as k
    join {{ ref('int_region_rollup') }} as u using (region_code)
    group by 1, 2, 3, 4
),

from_line_list as (
    select n.year, n.region_level, n.region_code, n.program_code, n.persons, n.eligible_persons, m.newest_period
    from {{ ref('int_program_persons_rolled') }} as n
    join {{ ref('dim_program') }} as p using (program_code)
    left join {{ ref('int_months_reported') }} as m
        on m.region_level = n.region_level and m.region_code = n.region_code and m.year = n.year and m.month = 12
    where p.line_list_complete
)

select
    coalesce(y.year, l.year)                                   as year,
    coalesce(y.region_level, l.region_level)                   as region_level,
    coalesce(y.region_code, l.region_code)                     as region_code,
    coalesce(y.program_code, l.program_code)                   as program_code,
    coalesce(y.persons, l.persons)                             as persons,
    -- coverage counts eligible persons: all of persons_ytd (the unit counts its own target group)
    coalesce(y.persons, l.eligible_persons)                    as eligible_persons,
    case when y.persons is not null then 'persons_ytd' else 'line_list' end as numerator_source,
    coalesce(y.as_of_period, l.newest_period)                  as as_of_period
from from_persons_ytd as y
full join from_line_list as l
    on l.year = y.year and l.region_level = y.region_level and l.region_code = y.region_code
   and l.program_code = y.program_code
