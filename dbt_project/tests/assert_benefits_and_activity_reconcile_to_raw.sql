-- Row counts per newest drop agree between raw and the benefit and activity facts.
with raw_counts as (
    select s.submission_id,
           (select count(*) from {{ source('raw', 'beneficiaries') }} b where b.submission_id = s.submission_id) as benefits,
           (select count(*) from {{ source('raw', 'activity') }} a where a.submission_id = s.submission_id) as activity
    from {{ ref('int_newest_submissions') }} as s
),

mart_counts as (
    select s.submission_id,
           (select count(*) from {{ ref('fct_benefits') }} b where b.submission_id = s.submission_id) as benefits,
           (select count(*) from {{ ref('fct_program_activity') }} a where a.submission_id = s.submission_id) as activity
    from {{ ref('int_newest_submissions') }} as s
)

select * from raw_counts join mart_counts using (submission_id)
where raw_counts.benefits <> mart_counts.benefits or raw_counts.activity <> mart_counts.activity
