-- 区域汇总层级: each county- or prefecture-level region's place at every level figures are rolled up to
-- (contract v2, region_level). An Ili county rolls up to prefecture 654000 (州直) and reporting unit 654000
-- (全州); a 塔城 county to prefecture 654200 and to reporting unit 654000.
with regions as (
    select region_code, level, prefecture_code, province_code, reporting_unit_code
    from {{ ref('stg_reference__admin_divisions') }}
    where level in ('county', 'prefecture')
)

select region_code, 'county' as region_level, region_code as rollup_code
from regions where level = 'county'

union all

select region_code, 'prefecture', case when level = 'prefecture' then region_code else prefecture_code end
from regions where level = 'prefecture' or prefecture_code is not null

union all

select region_code, 'reporting_unit', reporting_unit_code
from regions where reporting_unit_code is not null

union all

select region_code, 'province', province_code
from regions
