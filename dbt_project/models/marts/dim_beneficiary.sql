-- 受益人维度: a person, keyed by HMAC of the id number. No id number or name here.
select beneficiary_key, gender, birth_year, home_region_code
from {{ ref('int_persons') }}

union all

select {{ unknown_key() }}, null, null, null
