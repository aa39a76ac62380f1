select
    submission_id,
    row_number                      as source_row_number,
    region_code::text               as region_code,
    population_group_code,
    population,
    source                          as population_source
from {{ source('raw', 'population') }}
