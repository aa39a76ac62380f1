-- 阵地组织事实: sites and organisations at the year's end, one row per region and site type, from the
-- newest accepted annual drop that holds the sites form.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key=['prefecture_code', 'period'],
          on_schema_change='append_new_columns', pre_hook="{{ delete_rows_of_replaced_drops() }}") }}

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
join {{ ref('int_newest_submissions') }} as s on s.submission_id = x.submission_id
left join {{ ref('dim_region') }} as r on r.region_code = x.region_code
left join {{ ref('dim_site_type') }} as t on t.site_type_code = x.site_type_code
where true {{ changed_periods_only('s') }}
