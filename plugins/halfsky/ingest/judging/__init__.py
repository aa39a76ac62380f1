"""Judging a drop: cells to typed columns (``row_typing``), the Great Expectations suites, unit and
history rules, warnings, and the verdict with every finding (``judge``).

May import ``halfsky.contract``, ``halfsky.config``, ``halfsky.ingest.reading`` and ``halfsky.ingest.drop_report``.
"""
