{#- Facts load only prefecture-periods whose newest accepted drop changed since the last build. -#}
{% macro changed_periods_only(alias) -%}
    {% if is_incremental() %}
    and ({{ alias }}.prefecture_code, {{ alias }}.period, {{ alias }}.submission_id) not in (
        select distinct prefecture_code, period, submission_id from {{ this }}
    )
    {% endif %}
{%- endmacro %}

{#- A prefecture-period's facts come from its newest accepted drop only. delete+insert replaces the
    periods the newest drops have rows for; this pre-hook also removes the rows of a replaced drop
    when the correction has none for this form (it omits the form, or sends it empty). It runs in
    the model's transaction, so analysts never see a period half replaced. -#}
{% macro delete_rows_of_replaced_drops() -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as fact
    where not exists (
        select 1 from {{ ref('int_newest_submissions') }} as newest
        where newest.submission_id = fact.submission_id
    )
    {%- else -%}
    select 'first build: nothing to replace'
    {%- endif -%}
{%- endmacro %}
