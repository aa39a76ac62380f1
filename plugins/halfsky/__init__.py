"""halfsky (半边天): a data warehouse for women's federation program reports."""

__version__ = "0.1.0"

# Before any module makes its logger: every halfsky log line is masked for id numbers (halfsky.config.log_masking).
from halfsky.config.log_masking import install as _mask_id_numbers_in_logs  # noqa: E402

_mask_id_numbers_in_logs()
