-- 项目活动事实: one row per county x program x beneficiary group x period, from the newest accepted drop.
-- quantity is in the program's quantity_unit (dim_program), empty for a program that has none.
-- persons_ytd (contract v3) is a running count: never sum it over months, take the year's newest month.
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='append_new_columns',
          partition_by_period='month',
          indexes=[{'columns': ['prefecture_code', 'period']}],
          pre_hook="{{ delete_changed_periods() }}", post_hook="{{ record_folded() }}") }}

select
    {{ date_key("to_date(s.period || '-01', 'YYYY-MM-DD')") }}          as date_key,
    coalesce(r.region_key, {{ unknown_key() }})                       as region_key,
    coalesce(p.program_key, {{ unknown_key() }})                      as program_key,
    coalesce(g.beneficiary_group_key, {{ unknown_key() }})            as beneficiary_group_key,
    a.events,
    a.beneficiaries,
    a.volunteers,
    a.quantity,
    a.persons_ytd,
    {{ mask_id_numbers('a.remarks') }}                                as remarks,
    a.submission_id,
    s.prefecture_code,
    s.period
from {{ ref('stg_raw__activity') }} as a
join {{ night_submissions() }} as s on s.submission_id = a.submission_id
left join {{ ref('dim_region') }} as r on r.region_code = a.region_code
left join {{ ref('dim_program') }} as p on p.program_code = a.program_code
left join {{ ref('dim_beneficiary_group') }} as g on g.beneficiary_group_code = a.beneficiary_group_code
