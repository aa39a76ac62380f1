-- 受益人维度: a person, keyed by HMAC of the id number. No id number or name here.
-- Incremental: a night adds the persons of its new drops that are not here yet (int_person_keys hashed them)
-- and removes those of replaced drops no drop names any more, so it equals a full rebuild.
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='append_new_columns',
          pre_hook="{{ delete_vanished_persons(keyed=true) }}", post_hook="{{ record_folded() }}") }}

{#- both branches' refs, resolved when dbt parses the model -#}
{%- set depends_on = [ref('stg_raw__beneficiaries'), ref('int_night_submissions')] -%}
{% if is_incremental() -%}
-- the night's persons and the known ones among them, both through unique indexes (no scan of everyone)
with night as materialized (
    select p.beneficiary_key, p.gender, p.birth_year, p.home_region_code, p.home_region_level
    from {{ ref('int_person_keys') }} as p
    where p.id_number = any(array(
        select distinct b.id_number
        from {{ ref('stg_raw__beneficiaries') }} as b
        join {{ night_submissions() }} as s using (submission_id)))
),

known as (
    select known.beneficiary_key, known.gender, known.birth_year, known.home_region_code, known.home_region_level
    from {{ this }} as known
    where known.beneficiary_key = any(array(select beneficiary_key from night))
)

-- set operations, not joins: the array lookups give the planner no row counts to join by
select * from night
except
select * from known
{%- else -%}
-- distinct: a person purged in old drops (a pseudonym) and named in newer ones (the id) is one person
select distinct beneficiary_key, gender, birth_year, home_region_code, home_region_level
from {{ ref('int_person_keys') }}

union all

-- the unknown person lives in the unknown region, so every home region joins
select {{ unknown_key() }}, null, null, '000000', 'unknown'
{%- endif %}
