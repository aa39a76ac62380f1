-- 受益人: one row per person (normalised id number) in the newest drops, keyed by HMAC-SHA256.
-- The key comes from the session setting halfsky.person_key, which halfsky.dbt_runner sets
-- from the secret; it never appears in SQL, logs or the repo.
-- Restricted layer: birth_date stays here; marts get birth_year only.
with ids as (
    select distinct b.id_number
    from {{ ref('stg_raw__beneficiaries') }} as b
    join {{ ref('int_newest_submissions') }} as s using (submission_id)
),

provinces as (
    select region_code from {{ ref('stg_reference__admin_divisions') }} where level = 'province'
)

select
    ids.id_number,
    {{ person_key('ids.id_number') }}                               as beneficiary_key,
    case when substr(ids.id_number, 17, 1)::int % 2 = 1 then 'M' else 'F' end as gender,
    substr(ids.id_number, 7, 4)::int                                as birth_year,
    to_date(substr(ids.id_number, 7, 8), 'YYYYMMDD')                as birth_date,
    -- The issuing code resolved to a current division (retired codes too); digits no revision
    -- ever listed fall back to the province of the first two, else the unknown region.
    coalesce(home.region_code, province.region_code, '000000')      as home_region_code,
    coalesce(home.level, case when province.region_code is not null then 'province' end, 'unknown')
                                                                    as home_region_level
from ids
left join {{ ref('stg_reference__home_regions') }} as home
    on home.issuing_code = substr(ids.id_number, 1, 6)
left join provinces as province
    on province.region_code = substr(ids.id_number, 1, 2) || '0000'
