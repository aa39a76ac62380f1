-- 项目维度
select
    {{ surrogate_key(['program_code']) }} as program_key,
    program_code,
    name_zh,
    name_en,
    category,
    benefit_kind
from {{ ref('programs') }}

union all

select {{ unknown_key() }}, 'UNKNOWN', '未知项目', 'Unknown program', 'unknown', 'unknown'
