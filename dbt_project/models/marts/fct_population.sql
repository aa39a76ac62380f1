-- 人口基数事实: one row per region and population group of a year, from the newest accepted annual drop.
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='append_new_columns',
          indexes=[{'columns': ['prefecture_code', 'period']}],
          pre_hook="{{ delete_changed_periods() }}", post_hook="{{ record_folded() }}") }}

select
    s.period::int                                                     as year,
    coalesce(r.region_key, {{ unknown_key() }})                       as region_key,
    coalesce(g.population_group_key, {{ unknown_key() }})            as population_group_key,
    p.population,
    {{ mask_id_numbers('p.population_source') }}                      as population_source,
    p.submission_id,
    s.prefecture_code,
    s.period
from {{ ref('stg_raw__population') }} as p
join {{ night_submissions() }} as s on s.submission_id = p.submission_id
left join {{ ref('dim_region') }} as r on r.region_code = p.region_code
left join {{ ref('dim_population_group') }} as g on g.population_group_code = p.population_group_code
