select
    submission_id,
    row_number                      as source_row_number,
    region_code::text               as region_code,
    site_type_code,
    total,
    coalesce(new_this_year, 0)      as new_this_year,
    people
from {{ source('raw', 'sites') }}
