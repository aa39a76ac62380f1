-- 受益群体维度
select
    {{ surrogate_key(['beneficiary_group_code']) }} as beneficiary_group_key,
    beneficiary_group_code,
    name_zh,
    name_en
from {{ ref('beneficiary_groups') }}

union all

select {{ unknown_key() }}, 'UNKNOWN', '未知群体', 'Unknown group'
