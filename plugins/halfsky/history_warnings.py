"""Warnings that need the accepted history (contract v2 and the two v1 warnings left unbuilt):

- cash_exceeds_spending: the drop's cash paid to persons for a program exceeds the unit's spending on it in the
  year to date (spent = expenditure + disbursements to outside the unit);
- spending_over_incoming: the unit's spending on a program in the year to date exceeds what came in;
- min_max_outlier: an activity count outside the unit's own history, DHIS2-style (mean ± 3 standard deviations
  of at least MIN_HISTORY earlier months of the same county, program and group).

They run inside the transaction that accepts the drop, after older drops of the period stepped aside, so
"accepted" is exactly the newest drop of every prefecture and period, this one included.

cash_over_cap, which may move a warning onto another drop's payment, is halfsky.cash_cap.
"""

from __future__ import annotations

from decimal import Decimal

import psycopg

from halfsky.judge import Verdict
from halfsky.periods import is_month
from halfsky.reference.code_lists import ReferenceData
from halfsky.reference.divisions import allowed_region_codes
from halfsky.rules import Finding

MIN_HISTORY = 6  # earlier months needed before a value can be called an outlier
OUTLIER_SD = 3


def history_findings(conn: psycopg.Connection, submission_id: int, verdict: Verdict, ref: ReferenceData) -> list[Finding]:
    if not is_month(verdict.period):
        return []
    findings: list[Finding] = []
    if {"funds", "beneficiaries"} & set(verdict.forms):
        findings += _money_to_date(conn, submission_id, verdict)
    if "activity" in verdict.forms:
        findings += _outliers(conn, submission_id, verdict)
    return findings


def _money_to_date(conn: psycopg.Connection, submission_id: int, verdict: Verdict) -> list[Finding]:
    """Year-to-date incoming and spending of the unit per program, against this drop's cash paid and spending."""
    year = verdict.period[:4]
    params = {"sid": submission_id, "unit": verdict.prefecture_code, "year_start": f"{year}-01", "period": verdict.period,
              "own": sorted(allowed_region_codes(verdict.prefecture_code))}
    rows = conn.execute(
        """with to_date as (
               select f.program_code,
                      coalesce(sum(f.amount_yuan) filter (where f.flow_type = 'INCOMING'), 0) as incoming,
                      coalesce(sum(f.amount_yuan) filter (where f.flow_type = 'EXPENDITURE' or (f.flow_type = 'DISBURSEMENT'
                          and (f.recipient_region_code is null or f.recipient_region_code <> all(%(own)s)))), 0) as spent
               from raw.funds as f
               join ingest.submissions as s using (submission_id)
               where s.status = 'accepted' and s.prefecture_code = %(unit)s
                 and s.period between %(year_start)s and %(period)s
               group by 1
           ),
           paid as (
               select program_code, sum(amount_yuan) as cash, min(row_number) as first_row
               from raw.beneficiaries where submission_id = %(sid)s and benefit_type = 'CASH' group by 1
           ),
           spending_rows as (
               select program_code, min(row_number) as first_row
               from raw.funds where submission_id = %(sid)s and flow_type <> 'INCOMING' group by 1
           )
           select coalesce(t.program_code, p.program_code), coalesce(t.incoming, 0), coalesce(t.spent, 0),
                  p.cash, p.first_row, r.first_row
           from to_date as t
           full join paid as p using (program_code)
           left join spending_rows as r on r.program_code = coalesce(t.program_code, p.program_code)
           order by 1""",
        params,
    ).fetchall()
    findings = []
    for program, incoming, spent, cash, cash_row, spending_row in rows:
        if cash is not None and cash > spent:
            findings.append(Finding("cash_exceeds_spending", "beneficiaries", cash_row, "amount_yuan",
                                    f"{program}: cash paid {cash:,.2f} > spent {spent:,.2f} in {verdict.period[:4]} to date"))
        if spending_row is not None and spent > incoming:
            findings.append(Finding("spending_over_incoming", "funds", spending_row, "amount_yuan",
                                    f"{program}: spent {spent:,.2f} > incoming {incoming:,.2f} in {verdict.period[:4]} to date"))
    return findings


def _outliers(conn: psycopg.Connection, submission_id: int, verdict: Verdict) -> list[Finding]:
    findings = []
    for measure in ("beneficiaries", "events", "volunteers"):
        rows = conn.execute(
            f"""with history as (
                    select a.region_code, a.program_code, a.beneficiary_group_code,
                           avg(a.{measure}) as mean, stddev_samp(a.{measure}) as sd
                    from raw.activity as a
                    join ingest.submissions as s using (submission_id)
                    where s.status = 'accepted' and s.prefecture_code = %(unit)s and s.period < %(period)s
                      and s.period ~ '^[0-9]{{4}}-[0-9]{{2}}$'
                    group by 1, 2, 3
                    having count(*) >= %(min_history)s
                )
                select a.row_number, a.{measure}, h.mean, h.sd
                from raw.activity as a
                join history as h using (region_code, program_code, beneficiary_group_code)
                where a.submission_id = %(sid)s and h.sd > 0 and abs(a.{measure} - h.mean) > %(k)s * h.sd
                order by a.row_number""",
            {"sid": submission_id, "unit": verdict.prefecture_code, "period": verdict.period,
             "min_history": MIN_HISTORY, "k": OUTLIER_SD},
        ).fetchall()
        findings += [Finding("min_max_outlier", "activity", row_number, measure,
                             f"{value} outside {max(mean - OUTLIER_SD * sd, Decimal(0)):,.0f}–{mean + OUTLIER_SD * sd:,.0f}")
                     for row_number, value, mean, sd in rows]
    return findings
