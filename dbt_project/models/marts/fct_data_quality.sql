-- 数据质量事实: every warning of every accepted drop that speaks for its prefecture and period, per row and
-- rule, so analysts can see and filter what was loaded with a doubt. No cell values: they may be personal data.
-- cash_over_cap is taken again for every accepted drop each night, not only for the periods redone: a drop of
-- another prefecture or period can move it onto an earlier drop's payment (halfsky.ingest.judging.cash_cap, benefit-date order).
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='append_new_columns',
          indexes=[{'columns': ['prefecture_code', 'period']}],
          pre_hook=["{{ delete_changed_periods() }}",
                    "{% if is_incremental() %}delete from {{ this }} where rule = 'cash_over_cap'{% else %}select 'full build: nothing to replace'{% endif %}"],
          post_hook="{{ record_folded() }}") }}

{#- the night's changed periods for every rule but cash_over_cap; cash_over_cap for every accepted drop -#}
{% for submissions, rule_test in [(night_submissions(), "<> 'cash_over_cap'"), (ref('int_night_submissions'), "= 'cash_over_cap'")] %}
select
    f.submission_id,
    s.prefecture_code,
    s.period,
    f.form,
    f.source_row_number                                               as row_number,
    f.rule,
    f.severity,
    f.field
from {{ ref('stg_ingest__drop_findings') }} as f
join {{ submissions }} as s on s.submission_id = f.submission_id
where f.severity = 'warning' and f.rule {{ rule_test }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
