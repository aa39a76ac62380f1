"""The warehouse in Postgres: its own tables (``schema``, DDL in ``sql/``), roles and least privilege,
period partitions, the audit log, reference data loading, the person key, retention of personal data,
and running dbt (``dbt_runner``) over the project in ``dbt_project/``.

May import ``halfsky.contract`` and ``halfsky.config``; never ``ingest`` or ``orchestration``.
"""
