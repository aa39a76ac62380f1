-- Which drop of each prefecture-period every incremental model holds (macros/incremental_facts.sql):
-- written by the models' own post-hooks, in the transaction that writes their rows. Never rebuilt by
-- --full-refresh: a full build of a model rewrites that model's lines itself.
-- depends_on: {{ ref('stg_ingest__submissions') }}
{{ config(materialized='incremental', incremental_strategy='append', full_refresh=false,
          indexes=[{'columns': ['model', 'prefecture_code', 'period'], 'unique': True}]) }}

select
    null::text      as model,
    null::text      as prefecture_code,
    null::text      as period,
    null::bigint    as submission_id
where false
