-- 阵地类型维度: kinds of sites and organisations counted at the year's end (site_types.csv).
select
    {{ surrogate_key(['site_type_code']) }} as site_type_key,
    site_type_code,
    name_zh,
    name_en,
    people_are
from {{ ref('site_types') }}

union all

select {{ unknown_key() }}, 'UNKNOWN', '未知类型', 'Unknown site type', null
