-- 区域所含报送单位: which reporting units' figures each rolled-up region holds (contract v2 levels). A county,
-- a prefecture and a reporting unit hold one unit (塔城 654200 is Ili's 654000); a province holds all of its.
select distinct u.region_level, u.rollup_code as region_code, d.reporting_unit_code
from {{ ref('int_region_rollup') }} as u
join {{ ref('stg_reference__admin_divisions') }} as d on d.region_code = u.region_code
where d.reporting_unit_code is not null
