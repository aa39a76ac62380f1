-- 报送维度 (contract v3): every drop halfsky has judged, so facts can be filtered by what their drop is: its
-- status, its approval and the prefecture's notes. Names and notes have id numbers masked. approval_status is
-- the province's word on the period for the drop that stands (halfsky.warehouse.period_reviews); null for a
-- drop that was never accepted, or was replaced.
select
    s.submission_id,
    s.prefecture_code,
    s.period,
    {{ mask_id_numbers('s.drop_name') }}                             as drop_name,
    s.received_at,
    s.accepted_at,
    s.status,
    case when s.status = 'accepted' then coalesce(a.approval_status, 'awaiting_approval') end as approval_status,
    case when s.status = 'accepted' then a.approved_at end           as approved_at,
    {{ mask_id_numbers('s.notes') }}                                 as notes
from {{ ref('stg_ingest__submissions') }} as s
left join {{ ref('stg_audit__period_approval') }} as a on a.submission_id = s.submission_id

union all

select -1, null, null, '未知报送 Unknown submission', null, null, 'unknown', null, null, null
