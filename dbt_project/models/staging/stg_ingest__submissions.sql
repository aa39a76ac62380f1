select
    submission_id,
    prefecture_code,
    period,
    drop_name,
    drop_path,
    status,
    received_at,
    first_seen_at,
    accepted_at,
    is_late,
    duplicate_of,
    row_counts,
    notes,
    (period ~ '^[0-9]{4}$')         as is_annual
from {{ source('ingest', 'submissions') }}
