-- 基层组织覆盖 (contract v3): rename and cast only. An empty optional count stays null: unknown, not zero.
select
    submission_id,
    row_number                      as source_row_number,
    region_code::text               as region_code,
    townships,
    townships_with_federation,
    villages,
    villages_with_federation,
    villages_with_womens_home,
    committees_with_women,
    chairs_in_committee
from {{ source('raw', 'grassroots') }}
