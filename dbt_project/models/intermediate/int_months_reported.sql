-- 已报月数 (contract v3): per rolled-up region, year and month, how many months of the year up to that month
-- have an accepted monthly drop, and the same for the year before, so a comparison can tell a missing month
-- from a decline. A region holding several units (a province) counts the months every one of them sent: the
-- fewest among its units that sent anything in either year, so one unit's missing month is never hidden.
with unit_months as (
    select prefecture_code as reporting_unit_code, left(period, 4)::int as year, right(period, 2)::int as month, period
    from {{ ref('int_newest_submissions') }}
    where status = 'accepted' and period ~ '^[0-9]{4}-[0-9]{2}$'
),

years as (
    select distinct year from unit_months
    union
    select distinct year + 1 from unit_months
),

unit_counts as (
    select r.reporting_unit_code, y.year, m.month,
           count(um.period) filter (where um.year = y.year)     as months_reported,
           count(um.period) filter (where um.year = y.year - 1) as months_reported_prior_year,
           max(um.period) filter (where um.year = y.year)       as newest_period
    from (select distinct reporting_unit_code from {{ ref('int_region_units') }}) as r
    cross join years as y
    cross join generate_series(1, 12) as m(month)
    left join unit_months as um
        on um.reporting_unit_code = r.reporting_unit_code and um.year in (y.year, y.year - 1) and um.month <= m.month
    group by 1, 2, 3
),

sent as (
    select distinct reporting_unit_code, year from unit_months
)

select
    ru.region_level,
    ru.region_code,
    c.year,
    c.month,
    min(c.months_reported)            as months_reported,
    min(c.months_reported_prior_year) as months_reported_prior_year,
    max(c.newest_period)              as newest_period
from {{ ref('int_region_units') }} as ru
join unit_counts as c using (reporting_unit_code)
where exists (select 1 from sent as s
              where s.reporting_unit_code = c.reporting_unit_code and s.year in (c.year, c.year - 1))
group by 1, 2, 3, 4
