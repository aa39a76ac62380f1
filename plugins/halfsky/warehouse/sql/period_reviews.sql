-- The province's sign-off of each unit's month or year (halfsky.warehouse.period_reviews says what each event
-- means). Append-only: every approval, return, reopening and automatic close stays as it was written. Run by
-- ensure_schema after audit.sql.

create table if not exists audit.period_reviews (
    review_id        bigint generated always as identity primary key,
    prefecture_code  text not null,
    period           text not null,
    action           text not null check (action in ('approve', 'return', 'reopen', 'auto_close')),
    submission_id    bigint,            -- the accepted drop the event concerned (null: a reopen with none left)
    actor            text not null,     -- the reviewer's Airflow user, or the run that closed it by itself
    comment          text,              -- a return's what-to-fix, a reopen's reason; an approval's note
    warnings_read    boolean not null default false,  -- an approval records that the drop's warnings were read
    decided_at       timestamptz not null,            -- when the reviewer answered (or the run's as-of)
    recorded_at      timestamptz not null default clock_timestamp(),
    run_id           text,
    constraint return_has_comment check (action <> 'return' or length(btrim(coalesce(comment, ''))) > 0),
    constraint reopen_has_reason check (action <> 'reopen' or length(btrim(coalesce(comment, ''))) > 0)
);
create index if not exists period_reviews_unit_period on audit.period_reviews (prefecture_code, period, review_id);

-- No role edits or deletes a review, the owner included: changing the record takes dropping these triggers,
-- which is itself visible (and is DDL no halfsky role but the owner may run).
create or replace function audit.refuse_review_change() returns trigger
language plpgsql as $refuse$
begin
    raise exception 'audit.period_reviews is append-only: % refused', tg_op
        using errcode = 'insufficient_privilege';
end
$refuse$;

create or replace trigger period_reviews_append_only before update or delete on audit.period_reviews
    for each row execute function audit.refuse_review_change();
create or replace trigger period_reviews_no_truncate before truncate on audit.period_reviews
    for each statement execute function audit.refuse_review_change();
revoke update, delete, truncate on audit.period_reviews from public;

-- A unit-period's standing, from its newest accepted drop and its newest review event (one rule, used by the view
-- below and by halfsky.warehouse.period_reviews.standing):
--   not_submitted      no drop of the period was accepted
--   awaiting_approval  an accepted drop no one has decided on (never reviewed, or sent again after a return
--                      or a reopening)
--   returned           the province returned the newest accepted drop with a comment
--   approved           approved (or closed by itself after the deadline): later drops are rejected
--   reopened           reopened with a reason, no new drop yet
create or replace function audit.approval_status(last_action text, reviewed_submission bigint, newest_submission bigint)
returns text language sql immutable parallel safe as $status$
    select case
        when last_action in ('approve', 'auto_close') then 'approved'
        when newest_submission is null then 'not_submitted'
        when last_action is null then 'awaiting_approval'
        when last_action = 'return' and reviewed_submission = newest_submission then 'returned'
        when last_action = 'reopen' and reviewed_submission = newest_submission then 'reopened'
        else 'awaiting_approval'
    end
$status$;

-- Every unit-period with an accepted drop or a review event, as it stands now.
create or replace view audit.period_approval as
with newest_drop as (
    select distinct on (prefecture_code, period) prefecture_code, period, submission_id, accepted_at
    from ingest.submissions
    where status = 'accepted'
    order by prefecture_code, period, submission_id desc
), newest_review as (
    select distinct on (prefecture_code, period) *
    from audit.period_reviews
    order by prefecture_code, period, review_id desc
)
select coalesce(d.prefecture_code, r.prefecture_code) as prefecture_code,
       coalesce(d.period, r.period) as period,
       d.submission_id,
       d.accepted_at,
       audit.approval_status(r.action, r.submission_id, d.submission_id) as approval_status,
       r.action as last_action,
       r.actor as last_actor,
       r.decided_at as last_decided_at,
       r.comment as last_comment,
       r.review_id as last_review_id,
       case when r.action in ('approve', 'auto_close') then r.decided_at end as approved_at,
       case when r.action in ('approve', 'auto_close') then r.actor end as approved_by
from newest_drop d
full join newest_review r on r.prefecture_code = d.prefecture_code and r.period = d.period;

-- Which drops a review task was made for (review_periods): one task per unit-period's newest accepted drop,
-- however many nights it waits. Operational, not the record: the record is audit.period_reviews.
create table if not exists ingest.review_requests (
    prefecture_code  text not null,
    period           text not null,
    submission_id    bigint not null references ingest.submissions (submission_id),
    run_id           text,
    requested_at     timestamptz not null,
    primary key (prefecture_code, period, submission_id)
);
