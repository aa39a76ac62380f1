-- 受益事实: one row per benefit delivered to a person, from the newest accepted drop.
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='append_new_columns',
          partition_by_period='month',
          indexes=[{'columns': ['prefecture_code', 'period']}],
          pre_hook="{{ delete_changed_periods() }}", post_hook="{{ record_folded() }}") }}

select
    {{ date_key('b.benefit_date') }}                                  as date_key,
    coalesce(r.region_key, {{ unknown_key() }})                       as region_key,
    coalesce(p.program_key, {{ unknown_key() }})                      as program_key,
    coalesce(g.beneficiary_group_key, {{ unknown_key() }})            as beneficiary_group_key,
    coalesce(person.beneficiary_key, {{ unknown_key() }})             as beneficiary_key,
    b.benefit_type,
    b.amount_yuan::numeric(18, 2)                                     as amount_yuan,
    -- the program's eligibility (programs.csv) checked on the benefit date; an ineligible row is loaded,
    -- warned (fct_data_quality) and never counted as eligible coverage
    (person.gender is not null
     and (prog.eligible_gender is null or person.gender = prog.eligible_gender)
     and (prog.age_min is null or date_part('year', age(b.benefit_date, person.birth_date)) >= prog.age_min)
     and (prog.age_max is null or date_part('year', age(b.benefit_date, person.birth_date)) <= prog.age_max)
    )                                                                 as is_eligible,
    b.submission_id,
    s.prefecture_code,
    s.period
from {{ ref('stg_raw__beneficiaries') }} as b
join {{ night_submissions() }} as s on s.submission_id = b.submission_id
left join {{ night_persons() }} as person on person.id_number = b.id_number
left join {{ ref('dim_region') }} as r on r.region_code = b.region_code
left join {{ ref('dim_program') }} as p on p.program_code = b.program_code
left join {{ ref('programs') }} as prog on prog.program_code = b.program_code
left join {{ ref('dim_beneficiary_group') }} as g on g.beneficiary_group_code = b.beneficiary_group_code
