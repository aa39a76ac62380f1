-- Persons purged after the retention period (halfsky.warehouse.retention): what the marts still need of them.
select
    pseudonym::text                 as id_number,
    beneficiary_key,
    gender,
    birth_year,
    birth_date,
    issuing_code::text              as issuing_code
from {{ source('raw', 'purged_persons') }}
