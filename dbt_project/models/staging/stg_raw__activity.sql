select
    submission_id,
    row_number                      as source_row_number,
    region_code::text               as region_code,
    program_code,
    beneficiary_group_code,
    events,
    beneficiaries,
    volunteers,
    quantity,
    persons_ytd,
    remarks
from {{ source('raw', 'activity') }}
