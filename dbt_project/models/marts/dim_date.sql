-- 日期维度: one row per day, keyed yyyymmdd, plus an unknown member (-1).
with days as (
    select generate_series(
        date '{{ var("dim_date_start") }}', date '{{ var("dim_date_end") }}', interval '1 day'
    )::date as date_day
)

select
    (to_char(date_day, 'YYYYMMDD'))::int     as date_key,
    date_day                                 as date,
    extract(year from date_day)::int         as year,
    extract(quarter from date_day)::int      as quarter,
    extract(month from date_day)::int        as month,
    to_char(date_day, 'YYYY-MM')             as period,
    (extract(day from date_day) = 1)         as is_period_start
from days

union all

select -1, null, null, null, null, null, false
