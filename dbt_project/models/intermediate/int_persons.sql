-- 受益人: one row per person (normalised id number) in the newest drops, keyed by HMAC-SHA256.
-- The key comes from the session setting halfsky.person_key, which halfsky.warehouse.dbt_runner sets
-- from the secret; it never appears in SQL, logs or the repo.
-- Restricted layer: birth_date stays here; marts get birth_year only.
-- A view, live over raw: it hashes whatever it is read for. The nightly build reads its incremental
-- counterpart int_person_keys, which hashes each person once.
with ids as (
    select distinct b.id_number
    from {{ ref('stg_raw__beneficiaries') }} as b
    join {{ ref('int_newest_submissions') }} as s using (submission_id)
)

{{ person_attributes('ids') }}
