{#- Nights cost what changed, not what is stored.

    int_night_submissions (built first) is the night's snapshot: the newest accepted drop of every
    prefecture-period, and whether any folded model still holds another drop for it. Each model below
    records in int_fold_log, in the same transaction as its rows, which drop of each prefecture-period it
    holds. So a model's work tonight is the prefecture-periods whose snapshot drop is not the one it
    recorded: a new period, a correction (a newer drop supersedes an older one), or a period it missed
    because an earlier build failed. No fact table is scanned to find them.

    Why not a max(submission_id) or decided_at watermark: a replayed drop keeps its old submission_id and
    takes the as-of of its run, and the newest drop of a period is chosen by first_seen_at then name, not
    by id; comparing the snapshot with the log is exact for all of them and costs one row per period. -#}

{#- Every model that folds the night's drops in and keeps its line in int_fold_log. -#}
{% macro folded_models() -%}
    {{ return(['int_person_keys', 'dim_beneficiary', 'fct_program_activity', 'fct_fund_flows', 'fct_benefits',
               'fct_targets', 'fct_population', 'fct_sites', 'fct_grassroots', 'fct_data_quality']) }}
{%- endmacro %}

{#- A bookkeeping relation by name: hooks and tests read them without a ref (they are upstream or the log). -#}
{% macro night_relation(identifier) -%}
    {{ return(api.Relation.create(database=target.database, schema='intermediate', identifier=identifier, type='table')) }}
{%- endmacro %}

{#- This model's prefecture-periods to redo: the snapshot's drop (null when the period has no accepted
    drop any more), and the drop the model folded for it before (null for a new period). -#}
{% macro fold_delta(model_name=none) -%}
    select s.prefecture_code, s.period, s.submission_id, folded.submission_id as replaced_submission_id
    from {{ night_relation('int_night_submissions') }} as s
    left join {{ night_relation('int_fold_log') }} as folded
        on folded.model = '{{ model_name or this.identifier }}'
       and folded.prefecture_code = s.prefecture_code and folded.period = s.period
    where s.changed and s.submission_id is distinct from folded.submission_id
{%- endmacro %}

{#- The drops a model takes rows from: on an incremental night its delta, on a full build the whole snapshot.
    The ref is resolved unconditionally, so dbt sees the dependency when it parses the model. -#}
{% macro night_submissions() -%}
    {%- set snapshot = ref('int_night_submissions') -%}
    {%- if is_incremental() -%}
    (select prefecture_code, period, submission_id from ({{ fold_delta() }}) as delta where submission_id is not null)
    {%- else -%}
    (select prefecture_code, period, submission_id from {{ snapshot }} where submission_id is not null)
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of the facts: remove every row of the prefecture-periods redone tonight, whether or not the
    new drop has rows for this form (a correction may omit it or send it empty). It runs in the model's
    transaction, through the (prefecture_code, period) index, so analysts never see a period half replaced. -#}
{% macro delete_changed_periods() -%}
    {%- if is_incremental() -%}
    {%- if config.get('partition_by_period', false) -%}
    {{ ensure_period_partitions(this, "select period from (" ~ fold_delta() ~ ") as delta where submission_id is not null") }};
    {% endif -%}
    delete from {{ this }}
    where (prefecture_code, period) in (select prefecture_code, period from ({{ fold_delta() }}) as delta)
    {%- else -%}
    select 'full build: nothing to replace'
    {%- endif -%}
{%- endmacro %}

{#- Post-hook: the model now holds the snapshot's drops. Same transaction as the rows, so a failed build
    leaves the old line and the next night redoes the periods. -#}
{% macro record_folded() -%}
    {%- set log = night_relation('int_fold_log') -%}
    delete from {{ log }} where model = '{{ this.identifier }}';
    insert into {{ log }} (model, prefecture_code, period, submission_id)
    select '{{ this.identifier }}', prefecture_code, period, submission_id
    from {{ night_relation('int_night_submissions') }}
    where submission_id is not null
    {%- if not is_incremental() %};
    -- a table built whole has no statistics yet: its tests and tomorrow's night plan with them
    analyze {{ this }}
    {%- endif %}
{%- endmacro %}

{#- Normalised id numbers of the drops this model replaces tonight that no drop of the snapshot still
    names: the persons a full rebuild would no longer have. raw.beneficiaries holds id numbers normalised
    (halfsky.contract.cells.parse_id_number), so its id_number index answers "still named?" per candidate. -#}
{% macro vanished_persons() -%}
    {%- set beneficiaries = source('raw', 'beneficiaries') -%}
    select distinct upper(trim(replaced.id_number)) as id_number
    from {{ beneficiaries }} as replaced
    where replaced.submission_id in (
        select replaced_submission_id from ({{ fold_delta() }}) as delta where replaced_submission_id is not null)
      and not exists (
        select 1
        from {{ beneficiaries }} as kept
        join {{ night_relation('int_night_submissions') }} as s on s.submission_id = kept.submission_id
        where kept.id_number = upper(trim(replaced.id_number))::char(18))
{%- endmacro %}

{#- Pre-hook of the person models: remove the vanished persons (hashing only them, for the dimension).
    The source is resolved on every build, so dbt sees the hook's read of raw when it parses the model (lineage
    in dbt docs); vanished_persons reads it on incremental nights only. -#}
{% macro delete_vanished_persons(keyed=false) -%}
    {%- do source('raw', 'beneficiaries') -%}
    {%- if is_incremental() -%}
    {% if keyed -%}
    -- materialized: each vanished id is hashed once, not again wherever the planner copies the expression
    with vanished as materialized (
        select {{ person_key('ids.id_number') }} as beneficiary_key from ({{ vanished_persons() }}) as ids)
    delete from {{ this }} where beneficiary_key in (select beneficiary_key from vanished)
    {%- else -%}
    delete from {{ this }} where id_number in ({{ vanished_persons() }})
    {%- endif %}
    {%- else -%}
    select 'full build: nobody to remove'
    {%- endif -%}
{%- endmacro %}

{#- The persons a fact needs tonight: on an incremental night those of its new drops, looked up through
    int_person_keys' unique index; on a full build all of them. -#}
{% macro night_persons() -%}
    {%- set persons = ref('int_person_keys') -%}
    {%- if is_incremental() -%}
    (select * from {{ persons }} where id_number = any(array(
        select distinct b.id_number from {{ ref('stg_raw__beneficiaries') }} as b
        join {{ night_submissions() }} as s using (submission_id))))
    {%- else -%}
    {{ persons }}
    {%- endif -%}
{%- endmacro %}
