-- 基层组织覆盖事实 (contract v3): townships and villages the federation reaches at the year's end, one row per
-- county-level region, from the newest accepted annual drop of each unit and year (as fct_sites).
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='append_new_columns',
          indexes=[{'columns': ['prefecture_code', 'period']}],
          pre_hook="{{ delete_changed_periods() }}", post_hook="{{ record_folded() }}") }}

select
    s.period::int                                                     as year,
    coalesce(r.region_key, {{ unknown_key() }})                       as region_key,
    x.townships,
    x.townships_with_federation,
    x.villages,
    x.villages_with_federation,
    x.villages_with_womens_home,
    x.committees_with_women,
    x.chairs_in_committee,
    x.submission_id,
    s.prefecture_code,
    s.period
from {{ ref('stg_raw__grassroots') }} as x
join {{ night_submissions() }} as s on s.submission_id = x.submission_id
left join {{ ref('dim_region') }} as r on r.region_code = x.region_code
