-- 报送维度 (contract v3): every drop halfsky has judged, so facts can be filtered by what their drop is: its
-- status, its approval and the prefecture's notes. Names and notes have id numbers masked. Approval is not
-- built yet (period close is its own issue): an accepted drop awaits approval; approval_status is null for a
-- drop that was never accepted, or was replaced before anyone approved it.
select
    s.submission_id,
    s.prefecture_code,
    s.period,
    {{ mask_id_numbers('s.drop_name') }}                             as drop_name,
    s.received_at,
    s.accepted_at,
    s.status,
    case when s.status = 'accepted' then 'awaiting_approval' end      as approval_status,
    null::timestamptz                                                as approved_at,
    {{ mask_id_numbers('s.notes') }}                                 as notes
from {{ ref('stg_ingest__submissions') }} as s

union all

select -1, null, null, '未知报送 Unknown submission', null, null, 'unknown', null, null, null
