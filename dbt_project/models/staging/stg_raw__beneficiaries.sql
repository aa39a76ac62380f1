-- id_number stays in the restricted layers (staging, intermediate); marts get only its keyed hash.
select
    submission_id,
    row_number                      as source_row_number,
    region_code::text               as region_code,
    program_code,
    beneficiary_group_code,
    upper(trim(id_number))          as id_number,
    benefit_date,
    benefit_type,
    amount_yuan::numeric(18, 2)     as amount_yuan
from {{ source('raw', 'beneficiaries') }}
