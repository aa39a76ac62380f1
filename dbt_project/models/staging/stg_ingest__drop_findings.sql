-- value and detail stay here: they may quote a cell (an id number in a failing row). Marts get neither.
select
    submission_id,
    form,
    row_number                      as source_row_number,
    field,
    rule,
    severity
from {{ source('ingest', 'drop_findings') }}
