-- 资金来源维度
select
    {{ surrogate_key(['fund_source_code']) }} as fund_source_key,
    fund_source_code,
    name_zh,
    name_en,
    sector
from {{ ref('fund_sources') }}

union all

select {{ unknown_key() }}, 'UNKNOWN', '未知来源', 'Unknown source', 'unknown'
