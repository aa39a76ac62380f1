
select
    prefecture_code,
    period,
    submission_id,
    approval_status,
    approved_at,
    approved_by
from {{ source('audit', 'period_approval') }}
