select
    submission_id,
    row_number                      as source_row_number,
    region_code::text               as region_code,
    program_code,
    indicator_code,
    target_value::numeric(20, 2)    as target_value,
    remarks
from {{ source('raw', 'targets') }}
