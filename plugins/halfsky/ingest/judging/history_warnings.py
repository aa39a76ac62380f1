"""Warnings that need the accepted history (contract v2 and the two v1 warnings left unbuilt):

- form_dropped_by_correction: a correction lacks (or has empty) a form the drop it replaces had rows of;
- cash_exceeds_spending: the drop's cash paid to persons for a program exceeds the unit's spending on it in the
  year to date (spent = expenditure + disbursements to outside the unit);
- spending_over_incoming: the unit's spending on a program in the year to date exceeds what came in;
- ytd_decreased / persons_exceed_person_times_ytd (contract v3): a key's persons reached this year (persons_ytd)
  below its value in the latest earlier month of the year that reported it, or above its person-times summed over
  the accepted months from January to this one;
- min_max_outlier: a count or the cash spent far from the unit's own last 12 months (halfsky.ingest.judging.outliers: the
  modified z-score of contract v3).

They run inside the transaction that accepts the drop, after older drops of the period stepped aside, so
"accepted" is exactly the newest drop of every prefecture and period, this one included.

cash_over_cap, which may move a warning onto another drop's payment, is halfsky.ingest.judging.cash_cap.
"""

from __future__ import annotations

import psycopg

from halfsky.contract.forms import FORMS
from halfsky.ingest.judging.judge import Verdict
from halfsky.ingest.judging.outliers import outlier_findings
from halfsky.contract.periods import is_month
from halfsky.contract.reference.divisions import allowed_region_codes
from halfsky.contract.rules import Finding


def history_findings(conn: psycopg.Connection, submission_id: int, verdict: Verdict) -> list[Finding]:
    findings = forms_dropped_by_correction(conn, submission_id, verdict)
    if not is_month(verdict.period):
        return findings
    if {"funds", "beneficiaries"} & set(verdict.forms):
        findings += _money_to_date(conn, submission_id, verdict)
    if {"activity", "funds"} & set(verdict.forms):
        findings += outlier_findings(conn, submission_id, verdict)
    if "activity" in verdict.forms:
        findings += _persons_ytd(conn, submission_id, verdict)
    return findings


def forms_dropped_by_correction(conn: psycopg.Connection, submission_id: int, verdict: Verdict) -> list[Finding]:
    """Forms the drop this one replaces had rows of, and this one has none: those rows (a form's money) leave the
    warehouse with the replaced drop. The contract allows it (any subset of forms), but the sender must know."""
    replaced = conn.execute(
        """select submission_id, row_counts from ingest.submissions
           where prefecture_code = %s and period = %s and status = 'superseded' and submission_id <> %s
           order by first_seen_at desc, drop_name desc limit 1""",  # the newest of the others: the one accepted until now
        (verdict.prefecture_code, verdict.period, submission_id)).fetchone()
    if replaced is None:
        return []
    replaced_id, counts = replaced
    kept = verdict.row_counts()
    findings = []
    for form in FORMS.values():
        rows = (counts or {}).get(form.name, 0)
        if rows and not kept.get(form.name):
            zh, en = f"提交 {replaced_id} 的 {rows:,} 行", f"{rows:,} row{'s' if rows > 1 else ''} of submission {replaced_id}"
            if form.name == "funds":
                (total,), = conn.execute("select coalesce(sum(amount_yuan), 0) from raw.funds where submission_id = %s",
                                         (replaced_id,)).fetchall()
                zh, en = f"{zh}，金额 {total:,.2f} 元", f"{en}, {total:,.2f} yuan"
            findings.append(Finding("form_dropped_by_correction", form.name, value=f"{zh} / {en}", detail=(
                f"{form.zh}：被替换的报送有此报表，本次更正没有（或为空），其数据已从数据仓库移除 / {form.name}: the replaced "
                "drop had this form, this correction has none of its rows, so they have left the warehouse")))
    return findings


def _money_to_date(conn: psycopg.Connection, submission_id: int, verdict: Verdict) -> list[Finding]:
    """Year-to-date incoming and spending of the unit per program, against this drop's cash paid and spending."""
    year = verdict.period[:4]
    params = {"sid": submission_id, "unit": verdict.prefecture_code, "year_start": f"{year}-01", "period": verdict.period,
              "own": sorted(allowed_region_codes(verdict.prefecture_code))}
    rows = conn.execute(
        """with to_date as (
               select f.program_code,
                      -- contract v3: spending is compared with the opening balance plus incoming
                      coalesce(sum(f.amount_yuan) filter (where f.flow_type in ('INCOMING', 'OPENING_BALANCE')), 0) as incoming,
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
               from raw.funds where submission_id = %(sid)s and flow_type in ('EXPENDITURE', 'DISBURSEMENT') group by 1
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
                                    f"{program}: spent {spent:,.2f} > opening balance and incoming {incoming:,.2f} in {verdict.period[:4]} to date"))
    return findings


def _persons_ytd(conn: psycopg.Connection, submission_id: int, verdict: Verdict) -> list[Finding]:
    """persons_ytd is a running count of distinct persons: it never falls within a year, and a person is at least
    one person-time, so it never exceeds the key's person-times from January to this month."""
    rows = conn.execute(
        """with mine as (
               select row_number, region_code, program_code, beneficiary_group_code, persons_ytd
               from raw.activity where submission_id = %(sid)s and persons_ytd is not null
           ),
           year_rows as (
               select s.period, a.region_code, a.program_code, a.beneficiary_group_code, a.beneficiaries, a.persons_ytd
               from raw.activity as a
               join ingest.submissions as s using (submission_id)
               join (select distinct region_code, program_code, beneficiary_group_code from mine) as k
                    using (region_code, program_code, beneficiary_group_code)
               where s.status = 'accepted' and s.prefecture_code = %(unit)s
                 and s.period between %(year_start)s and %(period)s
           ),
           person_times as (
               select region_code, program_code, beneficiary_group_code, sum(beneficiaries) as person_times
               from year_rows group by 1, 2, 3
           ),
           earlier as (
               select distinct on (region_code, program_code, beneficiary_group_code)
                      region_code, program_code, beneficiary_group_code, period, persons_ytd
               from year_rows where period < %(period)s and persons_ytd is not null
               order by region_code, program_code, beneficiary_group_code, period desc
           )
           select m.row_number, m.persons_ytd, e.period, e.persons_ytd, coalesce(t.person_times, 0)
           from mine as m
           left join earlier as e using (region_code, program_code, beneficiary_group_code)
           left join person_times as t using (region_code, program_code, beneficiary_group_code)
           where m.persons_ytd < e.persons_ytd or m.persons_ytd > coalesce(t.person_times, 0)
           order by m.row_number""",
        {"sid": submission_id, "unit": verdict.prefecture_code, "year_start": f"{verdict.period[:4]}-01",
         "period": verdict.period},
    ).fetchall()
    findings = []
    for row_number, persons, earlier_period, earlier_persons, person_times in rows:
        if earlier_persons is not None and persons < earlier_persons:
            findings.append(Finding("ytd_decreased", "activity", row_number, "persons_ytd",
                                    f"{persons:,} < {earlier_persons:,} reported for {earlier_period}"))
        if persons > person_times:
            findings.append(Finding("persons_exceed_person_times_ytd", "activity", row_number, "persons_ytd",
                                    f"{persons:,} persons > {person_times:,} person-times from "
                                    f"{verdict.period[:4]}-01 to {verdict.period}"))
    return findings
