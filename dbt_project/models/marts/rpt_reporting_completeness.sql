-- 报送完整性: one row per expected prefecture and period up to the month before the run's date.
-- Expected periods come from reporting_units (active_from..active_to), so closed units never
-- push a rate over 100%.
with bounds as (
    select to_char(date '{{ var("as_of_date", "2026-10-21") }}' - interval '1 month', 'YYYY-MM') as last_due_period
),

expected as (
    select
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

drops as (
    select
        prefecture_code,
        period,
        min(received_at)                                   as first_received_at,
        count(*) filter (where status = 'rejected')        as drops_rejected,
        count(*) filter (where status in ('accepted', 'superseded')) as drops_accepted,
        min(received_at) filter (where status in ('accepted', 'superseded')) as first_accepted_received_at
    from {{ ref('stg_ingest__submissions') }}
    where status <> 'duplicate'
    group by 1, 2
)

select
    e.period,
    e.prefecture_code,
    e.prefecture_name_zh,
    true                                                   as expected,
    (d.first_received_at is not null)                      as submitted,
    coalesce(d.first_accepted_received_at <= e.deadline, false) as on_time,
    e.deadline,
    d.first_received_at,
    n.accepted_at,
    case
        when d.drops_accepted > 0 then 'accepted'
        when d.drops_rejected > 0 then 'rejected'
        when d.first_received_at is not null then 'pending'
        else 'missing'
    end                                                    as status,
    coalesce(d.drops_rejected, 0)::int                     as drops_rejected,
    n.submission_id                                        as accepted_submission_id
from expected as e
left join drops as d on d.prefecture_code = e.prefecture_code and d.period = e.period
left join {{ ref('int_newest_submissions') }} as n on n.prefecture_code = e.prefecture_code and n.period = e.period
