-- Every reporting unit is a prefecture in dim_region and has at least one county under it.
select u.prefecture_code
from {{ ref('reporting_units') }} as u
left join {{ ref('dim_region') }} as p
    on p.region_code = u.prefecture_code and p.level = 'prefecture'
left join {{ ref('dim_region') }} as c
    on c.prefecture_code = u.prefecture_code and c.level = 'county'
group by u.prefecture_code
having count(distinct p.region_code) = 0 or count(distinct c.region_code) = 0
