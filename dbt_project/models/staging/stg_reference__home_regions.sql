select
    code::text          as issuing_code,
    region_code::text   as region_code,
    level,
    method
from {{ source('reference', 'home_regions') }}
