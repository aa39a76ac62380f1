"""The yearly cash cap per person (``cash_cap_per_person_year`` in programs.csv), over every prefecture.

A person's cash payments from a capped program in one calendar year are put in benefit-date order (equal dates:
the drop that arrived first, then its path, then the row) and added up. ``cash_over_cap`` falls on the payment
that takes the total over the cap, and on every payment after it: the order drops are judged in, or the night
they come in, never moves it.

So a drop can move the warning onto a payment another drop already brought: an earlier-dated payment that
arrives later (or is judged later the same night) puts the crossing on the later-dated one, and a correction
that takes a payment away can lift it. The drop being accepted gets its own payments' warnings in its report;
every other accepted drop's stored warnings for the persons it touched (ingest.drop_findings and the counts in
ingest.submissions.reasons) are revised in the same transaction, with a note naming the submission that moved
them, and one log line each. A report already written is a record of what its sender was told: it is not
rewritten. The marts' fct_data_quality takes every accepted drop's cash_over_cap again each night, so analysts
see the warnings where benefit-date order puts them now.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import psycopg
from psycopg.types.json import Jsonb

from halfsky.ingest.drop_report import shown_value
from halfsky.contract.reference.code_lists import ReferenceData
from halfsky.contract.rules import ERROR, RULES, Finding

log = logging.getLogger(__name__)

RULE = "cash_over_cap"
# One transaction at a time decides the cap: two units' drops accepted at once would each miss the other's
# payments (neither committed yet) and no one would be warned. Two-key advisory lock space "hskc", key 0.
_CAP_LOCK = (0x68736B63, 0)


@dataclass(frozen=True)
class CapPayment:
    """One accepted cash payment of a capped program, with the year's total up to and including it."""

    submission_id: int
    row_number: int
    program_code: str
    year: int
    benefit_date: date
    running_total: Decimal
    cap: Decimal
    warned_before: bool  # its drop's stored findings already hold cash_over_cap on this row

    @property
    def over(self) -> bool:
        return self.running_total > self.cap

    def finding(self, note: str = "") -> Finding:
        return Finding(RULE, "beneficiaries", self.row_number, "amount_yuan",
                       f"{self.program_code} {self.year}: {self.running_total:,.2f} yuan to one person by this payment "
                       f"of {self.benefit_date:%Y-%m-%d}, cap {self.cap:,.2f}{note}")


@dataclass
class CapCrossings:
    """The accepted payments to the persons (program, year) a decision touched that are over the cap now, or
    were warned before: only those can gain or lose a warning (a 1M-row drop must not bring every payment back)."""

    payments: list[CapPayment] = field(default_factory=list)

    def findings_of(self, submission_id: int) -> list[Finding]:
        return [p.finding() for p in self.payments if p.submission_id == submission_id and p.over]


def cap_crossings(conn: psycopg.Connection, submission_id: int, replaced: list[int], ref: ReferenceData) -> CapCrossings:
    """The payments to every person, program and year that the accepted drop ``submission_id`` pays, or that the
    drops it ``replaced`` paid (a correction may take a payment away). Run inside the accepting transaction,
    after the older drops of the period stepped aside; it waits for any other drop's cap decision to commit."""
    caps = {code: rules.cash_cap_per_person_year for code, rules in ref.programs.items() if rules.cash_cap_per_person_year}
    if not caps:
        return CapCrossings()
    conn.execute("select pg_advisory_xact_lock(%s, %s)", _CAP_LOCK)
    programs = sorted(caps)
    rows = conn.execute(
        """with cap as (
               select * from unnest(%(programs)s::text[], %(caps)s::numeric[]) as c(program_code, cap)
           ),
           touched as (
               select distinct b.id_number, b.program_code, extract(year from b.benefit_date)::int as year
               from raw.beneficiaries as b join cap using (program_code)
               where b.submission_id = any(%(sids)s) and b.benefit_type = 'CASH' and b.id_number is not null
                 and b.benefit_date is not null
           ),
           paid as (  -- touched is distinct, so joining it adds no row (two semi-joins on it once made a
                      -- nested loop of 22,220 x 22,220 persons: 64 s for a 1M-row drop)
               select b.submission_id, b.row_number, b.program_code, t.year, b.benefit_date, cap.cap,
                      sum(b.amount_yuan) over (
                          partition by b.id_number, b.program_code, t.year
                          order by b.benefit_date, s.received_at, s.drop_path, b.row_number
                          rows between unbounded preceding and current row) as running_total
               from touched as t
               join raw.beneficiaries as b
                 on b.id_number = t.id_number and b.program_code = t.program_code
                and extract(year from b.benefit_date)::int = t.year
               join ingest.submissions as s using (submission_id)
               join cap on cap.program_code = b.program_code
               where s.status = 'accepted' and b.benefit_type = 'CASH'
           ),
           judged as (
               select p.*, exists (select 1 from ingest.drop_findings as f  -- its partial index on cash_over_cap
                                   where f.rule = 'cash_over_cap' and f.submission_id = p.submission_id
                                     and f.row_number = p.row_number) as warned_before
               from paid as p
           )
           select submission_id, row_number, program_code, year, benefit_date, running_total, cap, warned_before
           from judged as p
           where running_total > cap or warned_before
           order by p.submission_id, p.row_number""",
        {"sids": [submission_id, *replaced], "programs": programs, "caps": [caps[p] for p in programs]},
    ).fetchall()
    return CapCrossings([CapPayment(*row) for row in rows])


def revise_other_drops(conn: psycopg.Connection, crossings: CapCrossings, deciding: int) -> dict[int, tuple[int, int]]:
    """Make every other accepted drop's stored cash_over_cap warnings on the touched payments match where
    benefit-date order now puts them. Returns {submission_id: (warnings added, warnings lifted)} of the drops
    that changed. Their reports, already sent, stay as they were."""
    stored: dict[int, set[int]] = defaultdict(set)
    over: dict[int, dict[int, CapPayment]] = defaultdict(dict)
    for p in crossings.payments:
        if p.submission_id == deciding:
            continue
        if p.warned_before:
            stored[p.submission_id].add(p.row_number)
        if p.over:
            over[p.submission_id][p.row_number] = p
    revised = {}
    note = f" (since submission {deciding} was accepted: payments are counted in benefit-date order)"
    for submission_id in sorted(stored.keys() | over.keys()):
        added = sorted(set(over[submission_id]) - stored[submission_id])
        lifted = sorted(stored[submission_id] - set(over[submission_id]))
        if not (added or lifted):
            continue
        conn.execute("delete from ingest.drop_findings where submission_id = %s and rule = %s and row_number = any(%s)",
                     (submission_id, RULE, lifted))
        with conn.cursor().copy("copy ingest.drop_findings (submission_id, form, row_number, field, value, rule, severity) "
                                "from stdin") as copy:
            for row_number in added:
                f = over[submission_id][row_number].finding(note)
                copy.write_row((submission_id, f.form, f.row_number, f.field, shown_value(f), f.rule, f.severity))
        _recount(conn, submission_id)
        revised[submission_id] = (len(added), len(lifted))
        log.warning("submission %s: %s on %d more and %d fewer payment(s) since submission %s was accepted "
                    "(the yearly cash cap counts payments in benefit-date order); its report as sent is unchanged",
                    submission_id, RULE, len(added), len(lifted), deciding)
    return revised


def _recount(conn: psycopg.Connection, submission_id: int) -> None:
    """The submission log's count of cash_over_cap, as Verdict.reasons() writes it, from its stored findings."""
    (reasons,) = conn.execute("select reasons from ingest.submissions where submission_id = %s", (submission_id,)).fetchone()
    (count,) = conn.execute("select count(*) from ingest.drop_findings where submission_id = %s and rule = %s",
                            (submission_id, RULE)).fetchone()
    rule = RULES[RULE]
    reasons = [r for r in reasons or [] if r["rule"] != RULE]
    if count:
        reasons.append({"rule": RULE, "severity": rule.severity, "count": count, "zh": rule.zh, "en": rule.en})
    reasons.sort(key=lambda r: (r["severity"] != ERROR, r["rule"]))
    conn.execute("update ingest.submissions set reasons = %s where submission_id = %s", (Jsonb(reasons), submission_id))
