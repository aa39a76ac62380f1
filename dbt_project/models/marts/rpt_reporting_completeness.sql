-- 报送完整性: one row per expected report: each prefecture's months up to the month before the run's date,
-- and (contract v2) its annual plan (targets, population: due 31 January of the year) and year-end count
-- (sites and, contract v3, grassroots: due 31 January of the next year; halfsky.contract.periods.YEAR_END_FORMS).
-- Expected periods come from reporting_units (active_from..active_to), so closed units never push a rate over 100%.
with bounds as (
    select date '{{ env_var("HALFSKY_AS_OF_DATE", "2026-10-21") }}' as as_of,
           to_char(date '{{ env_var("HALFSKY_AS_OF_DATE", "2026-10-21") }}' - interval '1 month', 'YYYY-MM') as last_due_period
),

monthly as (
    select
        'monthly'::text as report,
        u.prefecture_code,
        u.name_zh as prefecture_name_zh,
        to_char(month, 'YYYY-MM') as period,
        -- due by the 10th of the next month, 23:59:59 Asia/Shanghai
        (month::date + interval '1 month' + interval '9 days 23 hours 59 minutes 59 seconds') at time zone 'Asia/Shanghai' as deadline
    from {{ ref('reporting_units') }} as u
    cross join bounds
    cross join lateral generate_series(
        to_date(u.active_from || '-01', 'YYYY-MM-DD'),
        to_date(least(coalesce(nullif(u.active_to, ''), bounds.last_due_period), bounds.last_due_period) || '-01', 'YYYY-MM-DD'),
        interval '1 month'
    ) as month
),

years as (
    select u.prefecture_code, u.name_zh as prefecture_name_zh, y as year, bounds.as_of
    from {{ ref('reporting_units') }} as u
    cross join bounds
    cross join lateral generate_series(
        left(u.active_from, 4)::int,
        least(coalesce(left(nullif(u.active_to, ''), 4)::int, extract(year from bounds.as_of)::int), extract(year from bounds.as_of)::int)
    ) as y
),

annual as (
    select 'annual_plan'::text, prefecture_code, prefecture_name_zh, year::text,
           (make_date(year, 1, 31) + interval '23 hours 59 minutes 59 seconds') at time zone 'Asia/Shanghai'
    from years
    union all
    select 'annual_year_end', prefecture_code, prefecture_name_zh, year::text,
           (make_date(year + 1, 1, 31) + interval '23 hours 59 minutes 59 seconds') at time zone 'Asia/Shanghai'
    from years where year < extract(year from as_of)
),

expected as (
    select * from monthly
    union all
    select * from annual
),

drops as (
    -- which expected report each drop speaks to: an annual drop to the plan when it holds targets or
    -- population, to the year-end count when it holds a year-end form (sites, grassroots); a rejected drop
    -- counts against both
    select
        s.*,
        case when not s.is_annual then 'monthly' end as monthly_report,
        (s.is_annual and (s.status = 'rejected' or s.row_counts ? 'targets' or s.row_counts ? 'population')) as for_plan,
        (s.is_annual and (s.status = 'rejected' or s.row_counts ?| array['sites', 'grassroots'])) as for_year_end
    from {{ ref('stg_ingest__submissions') }} as s
    where s.status <> 'duplicate'
),

drops_by_report as (
    select
        e.report,
        e.prefecture_code,
        e.period,
        min(d.received_at)                                   as first_received_at,
        count(*) filter (where d.status = 'rejected')        as drops_rejected,
        count(*) filter (where d.status in ('accepted', 'superseded')) as drops_accepted,
        min(d.received_at) filter (where d.status in ('accepted', 'superseded')) as first_accepted_received_at
    from expected as e
    join drops as d
      on d.prefecture_code = e.prefecture_code and d.period = e.period
     and ((e.report = 'monthly' and d.monthly_report = 'monthly')
          or (e.report = 'annual_plan' and d.for_plan)
          or (e.report = 'annual_year_end' and d.for_year_end))
    group by 1, 2, 3
)

select
    e.period,
    e.prefecture_code,
    e.prefecture_name_zh,
    r.name_en                                              as prefecture_name_en,
    true                                                   as expected,
    (d.first_received_at is not null)                      as submitted,
    coalesce(d.first_accepted_received_at <= e.deadline, false) as on_time,
    e.deadline,
    d.first_received_at,
    case when d.drops_accepted > 0 then n.accepted_at end  as accepted_at,
    case
        when d.drops_accepted > 0 then 'accepted'
        when d.drops_rejected > 0 then 'rejected'
        when d.first_received_at is not null then 'pending'
        else 'missing'
    end                                                    as status,
    coalesce(d.drops_rejected, 0)::int                     as drops_rejected,
    case when d.drops_accepted > 0 then n.submission_id end as accepted_submission_id,
    e.report,
    case
        when a.approval_status = 'approved' then 'approved'
        when d.drops_accepted > 0 then coalesce(a.approval_status, 'awaiting_approval')
        else 'not_submitted'
    end                                                    as approval_status
from expected as e
left join drops_by_report as d on d.report = e.report and d.prefecture_code = e.prefecture_code and d.period = e.period
left join {{ ref('int_newest_submissions') }} as n on n.prefecture_code = e.prefecture_code and n.period = e.period
left join {{ ref('dim_region') }} as r on r.region_code = e.prefecture_code
left join {{ ref('stg_audit__period_approval') }} as a on a.prefecture_code = e.prefecture_code and a.period = e.period
