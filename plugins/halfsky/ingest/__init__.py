"""Drops, from the landing zone to raw: ``reading`` opens them with the contract's file guards,
``judging`` types the cells and gives the verdict with every finding, ``runner`` takes a night's batch
and registers each drop, ``loader`` COPYs accepted drops into raw (or records a rejection),
``quarantine`` keeps rejected ones byte for byte, ``drop_report`` writes what the prefecture gets,
``replay`` retries a quarantined drop.

May import ``halfsky.contract``, ``halfsky.config`` and ``halfsky.warehouse``; never ``orchestration``.
Knows nothing of Airflow: the same code runs under a task, ``python -m halfsky.validate`` and the tests.
"""
