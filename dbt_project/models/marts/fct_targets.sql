-- 年度任务事实: one row per region, program and indicator of a year, from the newest accepted annual drop.
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='append_new_columns',
          indexes=[{'columns': ['prefecture_code', 'period']}],
          pre_hook="{{ delete_changed_periods() }}", post_hook="{{ record_folded() }}") }}

select
    s.period::int                                                     as year,
    coalesce(r.region_key, {{ unknown_key() }})                       as region_key,
    coalesce(p.program_key, {{ unknown_key() }})                      as program_key,
    coalesce(i.indicator_key, {{ unknown_key() }})                    as indicator_key,
    t.target_value,
    {{ mask_id_numbers('t.remarks') }}                                as remarks,
    t.submission_id,
    s.prefecture_code,
    s.period
from {{ ref('stg_raw__targets') }} as t
join {{ night_submissions() }} as s on s.submission_id = t.submission_id
left join {{ ref('dim_region') }} as r on r.region_code = t.region_code
left join {{ ref('dim_program') }} as p on p.program_code = t.program_code
left join {{ ref('dim_indicator') }} as i on i.indicator_code = t.indicator_code
