-- Every newest accepted drop's money reaches fct_fund_flows to the fen, row for row.
with raw_totals as (
    select f.submission_id, count(*) as n, sum(f.amount_yuan) as amount
    from {{ source('raw', 'funds') }} as f
    join {{ ref('int_newest_submissions') }} as s using (submission_id)
    group by 1
),

mart_totals as (
    select submission_id, count(*) as n, sum(amount_yuan) as amount
    from {{ ref('fct_fund_flows') }}
    group by 1
)

select *
from raw_totals as r
full join mart_totals as m using (submission_id)
where r.n is distinct from m.n or r.amount is distinct from m.amount
