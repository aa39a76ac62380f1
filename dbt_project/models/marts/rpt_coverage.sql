-- 覆盖率: persons a program reached in a year against the population it is measured against (programs.csv
-- population_group_code), at every region level. Contract v3: persons come from persons_ytd (本年累计), else
-- from the line list only for a program whose line list is complete (its ineligible rows never count);
-- otherwise persons and rate are null, never a rate of a sample. Rates are fractions, null without a population.
{{ config(materialized='view', contract={'enforced': false}) }}

with programs as (
    select program_key, program_code, population_group_code
    from {{ ref('dim_program') }}
    where population_group_code is not null
),

reached as (
    select n.year, n.region_level, n.region_code, n.program_code, n.eligible_persons as persons_reached,
           n.numerator_source, n.as_of_period
    from {{ ref('int_persons_reached') }} as n
    join programs as p using (program_code)
),

population as (
    select f.year, u.region_level, u.rollup_code as region_code, g.population_group_code, sum(f.population) as population
    from {{ ref('fct_population') }} as f
    join {{ ref('dim_population_group') }} as g using (population_group_key)
    join {{ ref('dim_region') }} as r using (region_key)
    join {{ ref('int_region_rollup') }} as u on u.region_code = r.region_code
    group by 1, 2, 3, 4
),

grid as (
    select year, region_level, region_code, program_code from reached
    union
    select n.year, n.region_level, n.region_code, p.program_code
    from population as n join programs as p using (population_group_code)
)

select
    g.year,
    g.region_level,
    g.region_code,
    r.name_zh                                                       as region_name_zh,
    r.name_en                                                       as region_name_en,
    g.program_code,
    p.population_group_code,
    x.persons_reached,
    n.population,
    round(x.persons_reached::numeric / nullif(n.population, 0), 6) as coverage_rate,  -- small: 6 places
    x.numerator_source,
    x.as_of_period,
    m.months_reported,
    m.months_reported_prior_year
from grid as g
join programs as p using (program_code)
left join reached as x using (year, region_level, region_code, program_code)
left join population as n
    on n.year = g.year and n.region_level = g.region_level and n.region_code = g.region_code
   and n.population_group_code = p.population_group_code
left join {{ ref('int_months_reported') }} as m
    on m.region_level = g.region_level and m.region_code = g.region_code and m.year = g.year and m.month = 12
left join {{ ref('dim_region') }} as r on r.region_code = g.region_code
