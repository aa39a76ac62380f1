-- 区域维度: every province, prefecture and county of China, plus an unknown member.
-- prefecture_code is the official parent; reporting_unit_code the federation that reports
-- for the region (Ili's for 塔城地区 and 阿勒泰地区), so analysts can ask for 州直 or 全州.
with divisions as (
    select * from {{ ref('stg_reference__admin_divisions') }}
)

select
    {{ surrogate_key(['d.region_code']) }}          as region_key,
    d.region_code,
    d.name_zh,
    d.name_en,
    d.level,
    d.prefecture_code,
    prefecture.name_zh                              as prefecture_name_zh,
    prefecture.name_en                              as prefecture_name_en,
    d.province_code,
    province.name_zh                                as province_name_zh,
    province.name_en                                as province_name_en,
    d.longitude,
    d.latitude,
    (units.prefecture_code is not null)             as is_reporting_unit,
    d.reporting_unit_code,
    reporting_unit.name_zh                          as reporting_unit_name_zh,
    reporting_unit.name_en                          as reporting_unit_name_en,
    d.county_type
from divisions as d
left join divisions as prefecture on prefecture.region_code = d.prefecture_code
left join divisions as province on province.region_code = d.province_code
left join divisions as reporting_unit on reporting_unit.region_code = d.reporting_unit_code
left join {{ ref('reporting_units') }} as units on units.prefecture_code = d.region_code

union all

select
    {{ unknown_key() }}, '000000', '未知', 'Unknown', 'unknown', null, null, null, null, null, null, null, null, false, null, null,
    null, null
