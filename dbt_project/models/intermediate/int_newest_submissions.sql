-- The one drop that speaks for each prefecture and period: the newest accepted,
-- by when the pipeline first saw it, then by name (the contract's rule).
select *
from (
    select
        s.*,
        row_number() over (
            partition by prefecture_code, period
            order by first_seen_at desc, drop_name desc
        ) as newest_rank
    from {{ ref('stg_ingest__submissions') }} as s
    where status in ('accepted', 'superseded')
) as ranked
where newest_rank = 1
