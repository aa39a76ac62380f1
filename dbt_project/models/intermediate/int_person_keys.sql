-- 受益人 (keyed): int_persons as a table the nights add to. A night hashes only the ids of its new drops that
-- are not here yet, and removes the persons of replaced drops no drop of the night names any more, so it
-- equals a full rebuild (the drops of int_night_submissions; macros/incremental_facts.sql).
-- Downstream of int_persons (same attributes, macro person_attributes), so `python -m halfsky.warehouse.person_key
-- rotate` (int_persons+) rebuilds it with the new key.
-- depends_on: {{ ref('int_persons') }}
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='append_new_columns',
          indexes=[{'columns': ['id_number'], 'unique': True}],
          pre_hook="{{ delete_vanished_persons() }}", post_hook="{{ record_folded() }}") }}

with night_ids as {{ 'materialized' if is_incremental() }} (
    select distinct b.id_number
    from {{ ref('stg_raw__beneficiaries') }} as b
    join {{ night_submissions() }} as s using (submission_id)
),

ids as (
    select id_number from night_ids
    {% if is_incremental() -%}
    -- looked up through the unique index: the night's ids only, never a scan of everyone known
    except
    select known.id_number from {{ this }} as known
    where known.id_number = any(array(select id_number from night_ids))
    {%- endif %}
)

{{ person_attributes('ids') }}
