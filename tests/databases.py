"""Throw-away databases for tests, on the server `make test` found: one way to make and drop them.

``with throwaway_database(admin_dsn, "marts") as dsn:`` gives a new, empty database named
``halfsky_<label>_<worker>_<8 hex>`` (so a leftover says which test and xdist worker made it), with halfsky's
own schema when ``schema=True``, and drops it when the block ends, however it ends. The conftest fixture
``fresh_database`` is the same, bound to the admin DSN.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from typing import Iterator


def database_name(label: str) -> str:
    return f"halfsky_{label}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"


@contextmanager
def throwaway_database(admin_dsn: str, label: str, *, schema: bool = False) -> Iterator[str]:
    from halfsky.warehouse.schema import ensure_schema
    from halfsky_dev.local_postgres import drop_database, ensure_database

    name = database_name(label)
    dsn = ensure_database(admin_dsn, name)
    try:
        if schema:
            ensure_schema(dsn)
        yield dsn
    finally:
        drop_database(admin_dsn, name)
