-- 人群维度: the populations coverage is measured against (population_groups.csv).
select
    {{ surrogate_key(['population_group_code']) }} as population_group_key,
    population_group_code,
    name_zh,
    name_en
from {{ ref('population_groups') }}

union all

select {{ unknown_key() }}, 'UNKNOWN', '未知人群', 'Unknown population group'
