select
    code::text              as region_code,
    name_zh,
    name_en,
    level,
    province_code::text     as province_code,
    prefecture_code::text   as prefecture_code,
    county_type,
    reporting_unit_code::text as reporting_unit_code,
    longitude::numeric(9, 6) as longitude,
    latitude::numeric(9, 6)  as latitude
from {{ source('reference', 'admin_divisions') }}
