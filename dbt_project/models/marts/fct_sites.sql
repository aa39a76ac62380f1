-- 阵地组织事实: sites and organisations at the year's end, one row per region and site type, from the
-- newest accepted annual drop that holds the sites form.
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='append_new_columns',
          indexes=[{'columns': ['prefecture_code', 'period']}],
          pre_hook="{{ delete_changed_periods() }}", post_hook="{{ record_folded() }}") }}

select
    s.period::int                                                     as year,
    coalesce(r.region_key, {{ unknown_key() }})                       as region_key,
    coalesce(t.site_type_key, {{ unknown_key() }})                    as site_type_key,
    x.total,
    x.new_this_year,
    x.people,
    x.submission_id,
    s.prefecture_code,
    s.period
from {{ ref('stg_raw__sites') }} as x
join {{ night_submissions() }} as s on s.submission_id = x.submission_id
left join {{ ref('dim_region') }} as r on r.region_code = x.region_code
left join {{ ref('dim_site_type') }} as t on t.site_type_code = x.site_type_code
