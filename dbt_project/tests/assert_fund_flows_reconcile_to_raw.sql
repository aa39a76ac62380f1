-- Every drop the facts should hold (the night's snapshot) reaches fct_fund_flows to the fen, row for row,
-- and no other drop's money is there. On an incremental night without full_checks: the changed
-- prefecture-periods only (macros/night_checks.sql).
-- depends_on: {{ ref('int_night_submissions') }}
with checked as (
    {{ checked_periods() }}
),

raw_totals as (
    select f.submission_id, count(*) as n, sum(f.amount_yuan) as amount
    from {{ source('raw', 'funds') }} as f
    join checked as c using (submission_id)
    group by 1
),

mart_totals as (
    select f.submission_id, count(*) as n, sum(f.amount_yuan) as amount
    from {{ ref('fct_fund_flows') }} as f
    where {{ in_checked_periods('f') }}
    group by 1
)

select *
from raw_totals as r
full join mart_totals as m using (submission_id)
where r.n is distinct from m.n or r.amount is distinct from m.amount
