{#- HMAC-SHA256 of a normalised id number, hex. current_setting() raises "unrecognized
    configuration parameter" when the key was not provided, so the build fails rather than
    producing unkeyed or guessable ids. -#}
{% macro person_key(column) -%}
    encode(hmac({{ column }}, current_setting('halfsky.person_key'), 'sha256'), 'hex')
{%- endmacro %}

{#- A person's attributes from the normalised id number in column id_number of the relation `ids`
    (shared by the int_persons view and the incremental int_person_keys). A purged person's id_number is
    a pseudonym (halfsky.warehouse.retention); the key and attributes kept for it at the purge stand in. -#}
{% macro person_attributes(ids) -%}
select
    {{ ids }}.id_number,
    case when purged.id_number is null then {{ person_key(ids ~ '.id_number') }}
         else purged.beneficiary_key end                           as beneficiary_key,
    case when purged.id_number is not null then purged.gender
         when substr({{ ids }}.id_number, 17, 1)::int % 2 = 1 then 'M' else 'F' end as gender,
    case when purged.id_number is null then substr({{ ids }}.id_number, 7, 4)::int
         else purged.birth_year end                                 as birth_year,
    case when purged.id_number is null then to_date(substr({{ ids }}.id_number, 7, 8), 'YYYYMMDD')
         else purged.birth_date end                                 as birth_date,
    -- The issuing code resolved to a current division (retired codes too); digits no revision
    -- ever listed fall back to the province of the first two, else the unknown region.
    coalesce(home.region_code, province.region_code, '000000')      as home_region_code,
    coalesce(home.level, case when province.region_code is not null then 'province' end, 'unknown')
                                                                    as home_region_level
from {{ ids }}
left join {{ ref('stg_raw__purged_persons') }} as purged
    on purged.id_number = {{ ids }}.id_number
left join {{ ref('stg_reference__home_regions') }} as home
    on home.issuing_code = coalesce(purged.issuing_code, substr({{ ids }}.id_number, 1, 6))
left join (select region_code from {{ ref('stg_reference__admin_divisions') }} where level = 'province') as province
    on province.region_code = substr(coalesce(purged.issuing_code, {{ ids }}.id_number), 1, 2) || '0000'
{%- endmacro %}
