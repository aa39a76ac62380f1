"""min_max_outlier (contract v3): a value far from the unit's own recent history, by the modified z-score.

Counts and money are skewed and often zero, so mean ± 3 standard deviations (the v1/v2 rule) flagged the wrong
months. For each key of the drop, its series is the 12 months before the period in which the unit has an accepted
drop: the key's value in that month's drop, 0 when the drop has no row for the key, missing when there is no
accepted drop (or the row leaves an optional count such as persons_ytd empty). With at least MIN_MONTHS values,
the drop's value is an outlier when 0.6745 × |value − median| / MAD > 3.5 (MAD: the median of the absolute
deviations from the median; the median of an even count is the mean of the two middle values), or, where the MAD
is zero, when it is more than half the median and at least MAD_ZERO_FLOOR away from the median.

Keys: county × program × group for the activity form's events, person-times (beneficiaries) and persons_ytd;
county × program for the cash spent in the month (expenditure plus disbursements to outside the unit, in-kind
left out). Only what the drop sends is judged: a key the drop has no row (no cash spending) for is not a value
to point at. Medians are taken over ordered arrays, so money stays numeric and exact.

Runs in the transaction that accepts the drop (halfsky.ingest.judging.history_warnings), so "accepted" is exactly the newest
drop of every month of the unit.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import psycopg

from halfsky.ingest.judging.judge import Verdict
from halfsky.contract.reference.divisions import allowed_region_codes
from halfsky.contract.rules import Finding

MONTHS_BACK = 12  # the window: the 12 months before the period
MIN_MONTHS = 6  # months of the window that must have a value before one can be called an outlier
CONSISTENCY = Decimal("0.6745")  # makes the MAD comparable with a standard deviation for normal data
THRESHOLD = Decimal("3.5")  # modified z-score above which a value is an outlier (Iglewicz and Hoaglin)
MAD_ZERO_FLOOR = 10  # where the MAD is zero: the least distance from the median that is an outlier

ACTIVITY_MEASURES = ("events", "beneficiaries", "persons_ytd")  # the activity fields the rule judges

# The accepted monthly drops of the unit in the 12 months before the period: the months the series has.
_MONTHS = """months as materialized (
    select submission_id from ingest.submissions
    where status = 'accepted' and prefecture_code = %(unit)s
      and period >= %(first)s and period < %(period)s and period ~ '^[0-9]{4}-[0-9]{2}$'
)"""

# From `values_` (one row per month's drop and key: is_judged for this drop's row, its row_number, key and
# measure, and the value, null where an optional count is empty): the drop's values that are outliers, with the
# median and the MAD. One pass groups this drop's rows with their history; the months whose drop has no row for
# the key join the series as zeros, so it is never built month by month (joins over keys × months, which the
# planner cannot size, cost tens of ms a drop).
_VERDICT = """,
keyed as materialized (
    select region_code, program_code, group_code, measure,
           min(row_number) filter (where is_judged) as row_number,
           min(value) filter (where is_judged) as value,
           coalesce(array_agg(value) filter (where not is_judged and value is not null), '{}')
               || array_fill(0::numeric, array[((select count(*) from months) - count(*) filter (where not is_judged))::int])
               as series
    from values_
    group by region_code, program_code, group_code, measure
    having count(value) filter (where is_judged) > 0
),
sorted as materialized (
    select region_code, program_code, group_code, measure, row_number, value, cardinality(series) as months,
           (select array_agg(v order by v) from unnest(series) as v) as ordered
    from keyed where cardinality(series) >= %(min_months)s
),
centre as materialized (
    select *, (ordered[(months + 1) / 2] + ordered[(months + 2) / 2]) / 2 as median from sorted
),
history as materialized (
    select c.*, (select (d[(c.months + 1) / 2] + d[(c.months + 2) / 2]) / 2
                 from (select array_agg(abs(v - c.median) order by abs(v - c.median)) as d from unnest(c.ordered) as v) as s
                ) as mad
    from centre as c
)
select row_number, region_code, program_code, measure, value, median, mad
from history
where case when mad > 0 then %(consistency)s * abs(value - median) > %(threshold)s * mad
           else abs(value - median) > median / 2 and abs(value - median) >= %(floor)s end
order by row_number, measure"""


def outlier_findings(conn: psycopg.Connection, submission_id: int, verdict: Verdict) -> list[Finding]:
    params = {"sid": submission_id, "unit": verdict.prefecture_code, "period": verdict.period,
              "first": _months_before(verdict.period, MONTHS_BACK), "min_months": MIN_MONTHS,
              "consistency": CONSISTENCY, "threshold": THRESHOLD, "floor": MAD_ZERO_FLOOR}
    findings = []
    if "activity" in verdict.forms:
        for row_number, _, _, measure, value, median, mad in conn.execute(_activity_sql(), params).fetchall():
            findings.append(Finding("min_max_outlier", "activity", row_number, measure,
                                    f"{value:,.0f}: {describe_history(median, mad, Decimal(1))}"))
    if "funds" in verdict.forms:
        spent = conn.execute(_cash_spent_sql(), {**params, "own": sorted(allowed_region_codes(verdict.prefecture_code))})
        for row_number, region, program, _, value, median, mad in spent.fetchall():
            findings.append(Finding("min_max_outlier", "funds", row_number, "amount_yuan",
                                    f"{region} {program}: cash spent this month {value:,.2f}, "
                                    f"{describe_history(median, mad, Decimal('0.01'))}"))
    return findings


def describe_history(median: Decimal, mad: Decimal, step: Decimal) -> str:
    """'median 100, expected 63–137': the values (in steps of a count or a fen) that are not outliers."""
    if mad > 0:
        reach, closed = THRESHOLD * mad / CONSISTENCY, True
    elif median / 2 >= MAD_ZERO_FLOOR:
        reach, closed = median / 2, True
    else:  # within less than MAD_ZERO_FLOOR of the median
        reach, closed = Decimal(MAD_ZERO_FLOOR), False
    low, high = median - reach, median + reach
    if closed:
        low, high = _on_step(low, step, ROUND_CEILING), _on_step(high, step, ROUND_FLOOR)
    else:
        low, high = _on_step(low, step, ROUND_FLOOR) + step, _on_step(high, step, ROUND_CEILING) - step
    places = "0" if step == 1 else "2"
    shown = f"{{:,.{places}f}}"
    median_text = f"{median:,.1f}" if step == 1 and median != median.to_integral_value() else shown.format(median)
    return f"median {median_text}, expected {shown.format(max(low, Decimal(0)))}–{shown.format(high)}"


def _on_step(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    return (value / step).to_integral_value(rounding=rounding) * step


def _months_before(period: str, months: int) -> str:
    index = int(period[:4]) * 12 + int(period[5:7]) - 1 - months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _activity_sql() -> str:
    measures = ", ".join(f"('{m}', a.{m}::numeric)" for m in ACTIVITY_MEASURES)
    return f"""with {_MONTHS},
values_ as (
    -- a row whose optional count is empty (persons_ytd) is a month of the key, but no value: missing, not 0
    select a.submission_id = %(sid)s as is_judged, a.row_number, a.region_code, a.program_code,
           a.beneficiary_group_code as group_code, m.measure, m.value
    from raw.activity as a cross join lateral (values {measures}) as m(measure, value)
    where a.period >= %(first)s and a.period <= %(period)s
      and a.submission_id = any(array(select submission_id from months) || %(sid)s::bigint)
){_VERDICT}"""


# Cash spent by a county on a program: expenditure plus disbursements to outside the unit (an internal transfer
# to a region of the same unit is spent by the region that reports it), in-kind left out.
_CASH_SPENT = """not coalesce(f.in_kind, false) and (f.flow_type = 'EXPENDITURE' or (f.flow_type = 'DISBURSEMENT'
                 and (f.recipient_region_code is null or f.recipient_region_code <> all(%(own)s))))"""


def _cash_spent_sql() -> str:
    return f"""with {_MONTHS},
values_ as (
    select f.submission_id = %(sid)s as is_judged, min(f.row_number) as row_number, f.region_code, f.program_code,
           ''::text as group_code, 'amount_yuan'::text as measure, sum(f.amount_yuan) as value
    from raw.funds as f
    where f.period >= %(first)s and f.period <= %(period)s
      and f.submission_id = any(array(select submission_id from months) || %(sid)s::bigint) and {_CASH_SPENT}
    group by f.submission_id, f.region_code, f.program_code
){_VERDICT}"""
