-- Row counts per drop agree between raw and the benefit and activity facts, for every drop the facts
-- should hold (the night's snapshot). On an incremental night without full_checks: the changed
-- prefecture-periods only, whose rows the facts have just replaced (macros/night_checks.sql).
-- depends_on: {{ ref('int_night_submissions') }}
with checked as (
    {{ checked_periods() }}
),

raw_counts as (
    select 'benefits' as form, b.submission_id, count(*) as n
    from {{ source('raw', 'beneficiaries') }} as b join checked as c using (submission_id) group by 1, 2
    union all
    select 'activity', a.submission_id, count(*)
    from {{ source('raw', 'activity') }} as a join checked as c using (submission_id) group by 1, 2
),

mart_counts as (
    select 'benefits' as form, f.submission_id, count(*) as n
    from {{ ref('fct_benefits') }} as f
    where {{ in_checked_periods('f') }}
    group by 1, 2
    union all
    select 'activity', f.submission_id, count(*)
    from {{ ref('fct_program_activity') }} as f
    where {{ in_checked_periods('f') }}
    group by 1, 2
)

select *
from raw_counts as r
full join mart_counts as m using (form, submission_id)
where r.n is distinct from m.n
