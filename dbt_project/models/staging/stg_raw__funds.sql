select
    submission_id,
    row_number                      as source_row_number,
    region_code::text               as region_code,
    program_code,
    fund_source_code,
    flow_type,
    amount_yuan::numeric(18, 2)     as amount_yuan,
    txn_date,
    voucher_no,
    counterparty,
    recipient_region_code::text      as recipient_region_code,
    coalesce(in_kind, false)        as in_kind
from {{ source('raw', 'funds') }}
