-- The night's snapshot, taken before anything is built: the newest accepted drop of every prefecture-period
-- (int_newest_submissions), and whether it changed: some incremental model does not hold that drop yet.
-- A period whose drop no longer counts (submission_id null) is changed too. Every model of the night
-- reads this table, not the live submission log, so a drop accepted while dbt runs waits for the next build.
{{ config(materialized='table', post_hook='analyze {{ this }}') }}

with newest as (
    select prefecture_code, period, submission_id
    from {{ ref('int_newest_submissions') }}
),

folded as (
    select model, prefecture_code, period, submission_id
    from {{ ref('int_fold_log') }}
    where model in ('{{ folded_models() | join("', '") }}')
)

select
    coalesce(n.prefecture_code, f.prefecture_code)                    as prefecture_code,
    coalesce(n.period, f.period)                                      as period,
    n.submission_id,
    (n.submission_id is null
     or count(distinct f.model) filter (where f.submission_id = n.submission_id) < {{ folded_models() | length }}
    )                                                                 as changed
from newest as n
full join folded as f on f.prefecture_code = n.prefecture_code and f.period = n.period
group by 1, 2, 3
