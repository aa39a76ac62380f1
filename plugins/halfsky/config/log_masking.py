"""Every log line halfsky writes passes through the one masking function (untrusted_text.mask_id_numbers_in).

A drop's name is the sender's choice ("王秀英_150102198503150025.json"), and so is the text of an error that
quotes it; task logs are read by every admin of the Airflow UI and kept for months. Rather than trusting each
call site, every logger of a halfsky module carries IdNumberMasking: the message, its arguments and any
traceback are formatted and masked before a handler (Airflow's, a file, the console) sees them.
install() runs on ``import halfsky``, before any module makes its logger; a logger made later by the same
name is the same object, filter and all.
"""

from __future__ import annotations

import logging
import pkgutil
import traceback
from pathlib import Path

from halfsky.contract.untrusted_text import mask_id_numbers_in


class IdNumberMasking(logging.Filter):
    """Formats the record's message (and its traceback) and masks id numbers in it; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:  # the exception's text may quote a name: rendered here, masked with the message
            message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.stack_info:
            message += "\n" + record.stack_info
        masked = mask_id_numbers_in(message)
        if masked != message or record.exc_info or record.stack_info:
            record.msg, record.args = masked, ()
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


_FILTER = IdNumberMasking()


def module_names(package: str = "halfsky", path: Path = Path(__file__).parents[1]) -> list[str]:
    """The package and every module and subpackage in it, found on disk without importing any."""
    names = [package]
    for info in pkgutil.iter_modules([str(path)]):
        full = f"{package}.{info.name}"
        names += module_names(full, path / info.name) if info.ispkg else [full]
    return names


def masked_logger(name: str) -> logging.Logger:
    """The named logger, with IdNumberMasking (once)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, IdNumberMasking) for f in logger.filters):
        logger.addFilter(_FILTER)
    return logger


def install() -> None:
    for name in module_names():
        masked_logger(name)
