-- 指标维度: what a target measures and how its actual is computed (indicators.csv).
select
    {{ surrogate_key(['indicator_code']) }} as indicator_key,
    indicator_code,
    name_zh,
    name_en,
    unit,
    computed_from
from {{ ref('indicators') }}

union all

select {{ unknown_key() }}, 'UNKNOWN', '未知指标', 'Unknown indicator', null, null
