-- 受益人维度: a person, keyed by HMAC of the id number. No id number or name here.
select beneficiary_key, gender, birth_year, home_region_code, home_region_level
from {{ ref('int_persons') }}

union all

-- the unknown person lives in the unknown region, so every home region joins
select {{ unknown_key() }}, null, null, '000000', 'unknown'
