-- The warehouse's own schemas and the one extension it needs. Run first by halfsky.warehouse.schema.ensure_schema;
-- every file here is idempotent (if not exists, or replace), run in that one transaction, in the order ensure_schema lists.
-- staging, intermediate, marts and marts_partitions are dbt's (made by halfsky.warehouse.roles), audit by audit.sql.

create schema if not exists ingest;
create schema if not exists raw;
create schema if not exists reference;
-- hmac() keys beneficiaries; trusted since PostgreSQL 13, so the database owner may create it.
create extension if not exists pgcrypto;
