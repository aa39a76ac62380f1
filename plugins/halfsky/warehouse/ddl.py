"""The warehouse's static DDL, kept as .sql files in ``halfsky/warehouse/sql/`` (package data).

Static means written by hand: a file never depends on Python values. DDL generated from Python data (the raw
tables from the contract's forms, the id-number masking functions from its patterns) stays in
``halfsky.warehouse.schema``.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def read_ddl(name: str) -> str:
    """The text of ``sql/<name>``, e.g. ``read_ddl("audit.sql")``."""
    return files(__package__).joinpath("sql", name).read_text(encoding="utf-8")
