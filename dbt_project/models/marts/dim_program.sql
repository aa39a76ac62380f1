-- 项目维度: the programs of programs.csv, with their units and eligibility (contract v2).
select
    {{ surrogate_key(['program_code']) }} as program_key,
    program_code,
    name_zh,
    name_en,
    category,
    benefit_kind,
    nullif(quantity_unit, '')            as quantity_unit,
    nullif(population_group_code, '')    as population_group_code,
    nullif(eligible_gender, '')          as eligible_gender,
    age_min,
    age_max,
    cash_cap_per_person_year,
    -- contract v3: only such a program's line list may be counted as its persons reached
    coalesce(lower(trim(line_list_complete)) = 'yes', false) as line_list_complete
from {{ ref('programs') }}

union all

select {{ unknown_key() }}, 'UNKNOWN', '未知项目', 'Unknown program', 'unknown', 'unknown', null, null, null, null, null, null, false
