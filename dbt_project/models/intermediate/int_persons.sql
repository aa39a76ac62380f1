-- 受益人: one row per person (normalised id number) in the newest drops, keyed by HMAC-SHA256.
-- The key comes from the session setting halfsky.person_key, which halfsky.dbt_runner sets
-- from the secret; it never appears in SQL, logs or the repo.
with ids as (
    select distinct b.id_number
    from {{ ref('stg_raw__beneficiaries') }} as b
    join {{ ref('int_newest_submissions') }} as s using (submission_id)
)

select
    id_number,
    {{ person_key('id_number') }}                                   as beneficiary_key,
    case when substr(id_number, 17, 1)::int % 2 = 1 then 'M' else 'F' end as gender,
    substr(id_number, 7, 4)::int                                    as birth_year,
    substr(id_number, 1, 6)                                         as home_region_code
from ids
