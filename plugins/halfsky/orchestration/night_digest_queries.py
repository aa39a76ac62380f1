"""The night's digest, as data: the drops a run rejected, the corrections it accepted that removed forms
(their rows, a funds form's money, left the warehouse), and the reports still missing after their deadline
(``night_digest`` returns a ``NightDigest``; ``night_digest_text`` words it in Chinese and English).

Read from the submission log and the reference tables only, never from marts, so
the digest still goes out on a night the dbt build failed. "Expected" follows
``rpt_reporting_completeness``: each reporting unit's months between ``active_from``
and ``active_to`` (reference.reporting_units), its annual plan for each of those
years and its year-end count for each year that is over. Everything is judged at
the run's ``as_of``, so the digest of a past night can be composed again unchanged.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import psycopg

from halfsky.contract.forms import FORMS
from halfsky.contract.periods import SHANGHAI, YEAR_END_FORMS, deadline, next_period, period_of
from halfsky.contract.reference.code_lists import ReportingUnit, reference_data
from halfsky.contract.untrusted_text import mask_id_numbers_in, printable_name
from halfsky.ingest.drop_report import report_location

log = logging.getLogger(__name__)

# The expected reports of rpt_reporting_completeness (their names for people: night_digest_text.REPORT_NAMES).
MONTHLY, ANNUAL_PLAN, ANNUAL_YEAR_END = "monthly", "annual_plan", "annual_year_end"


@dataclass(frozen=True)
class RuleCount:
    rule: str
    count: int
    zh: str
    en: str


@dataclass(frozen=True)
class RejectedDrop:
    submission_id: int
    unit_code: str
    unit_name_zh: str | None  # None for a folder that is no known region
    period: str
    drop_name: str  # from the landing zone: untrusted; its id numbers masked (the digest goes out by mail and webhook)
    rules: tuple[RuleCount, ...]
    report: str | None  # the quarantine report (report.html), where it was stored


@dataclass(frozen=True)
class DroppedForms:
    """A correction accepted this run without a form the drop it replaced had (form_dropped_by_correction)."""

    submission_id: int
    unit_code: str
    unit_name_zh: str | None
    period: str
    drop_name: str  # from the landing zone: untrusted
    forms: tuple[tuple[str, str], ...]  # (form, what left: "提交 12 的 3 行… / 3 rows of submission 12…")


@dataclass(frozen=True)
class MissingReport:
    unit_code: str
    unit_name_zh: str
    period: str
    report: str  # MONTHLY, ANNUAL_PLAN or ANNUAL_YEAR_END
    deadline: datetime
    drops_rejected: int  # drops for it that were all rejected by as_of


@dataclass(frozen=True)
class NightDigest:
    run_id: str
    as_of: datetime
    rejected: tuple[RejectedDrop, ...]
    missing: tuple[MissingReport, ...]
    dropped_forms: tuple[DroppedForms, ...] = ()
    # Units with rejections or warnings this run and no address to tell them at (halfsky.orchestration.unit_notices).
    unreachable: tuple[str, ...] = ()
    # Units with no accepted drop for any report they owed by as_of: not late, absent (not yet onboarded, or
    # their sender lost). The digest names them once, so their years of gaps do not bury this month's.
    never_reported: tuple[str, ...] = ()

    @property
    def missing_units(self) -> list[str]:
        return sorted({m.unit_code for m in self.missing})

    @property
    def day(self) -> str:
        return self.as_of.astimezone(SHANGHAI).date().isoformat()


def night_digest(dsn: str, run_id: str, as_of: datetime) -> NightDigest:
    """What ``run_id`` rejected, and every expected report whose deadline passed by ``as_of`` with no accepted drop."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must carry its time zone (the run's data interval end)")
    with psycopg.connect(dsn) as conn:
        units = _reporting_units(conn)
        rejected = _rejected_drops(conn, run_id, units)
        missing = _missing_reports(conn, units, as_of)
        dropped = _dropped_forms(conn, run_id, units)
    owed = {code: len(_expected_reports(unit, as_of)) for code, unit in units.items()}
    missed = Counter(m.unit_code for m in missing)
    never = tuple(code for code in sorted(units) if owed[code] and missed[code] == owed[code])
    return NightDigest(run_id, as_of, tuple(rejected), tuple(missing), tuple(dropped), never_reported=never)


def latest_due(as_of: datetime) -> dict[str, str]:
    """{report: its latest period whose deadline passed by ``as_of``}: the reports this cycle's reminders are for."""
    month = period_of(as_of.astimezone(SHANGHAI).date())
    while deadline(month) >= as_of:
        month = f"{int(month[:4]) - 1}-12" if month.endswith("-01") else f"{month[:5]}{int(month[5:]) - 1:02d}"
    year = as_of.astimezone(SHANGHAI).year
    plan = str(year) if deadline(str(year)) < as_of else str(year - 1)
    year_end = str(year - 1) if deadline(str(year - 1), YEAR_END_FORMS) < as_of else str(year - 2)
    return {MONTHLY: month, ANNUAL_PLAN: plan, ANNUAL_YEAR_END: year_end}


def _reporting_units(conn: psycopg.Connection) -> dict[str, ReportingUnit]:
    """The seed table dbt built; before the first dbt seed (or if it failed) the same seed file, read directly."""
    try:
        with conn.transaction():
            rows = conn.execute(
                "select prefecture_code, name_zh, province_code, active_from, nullif(active_to, '') "
                "from reference.reporting_units").fetchall()
    except psycopg.errors.UndefinedTable:
        log.info("reference.reporting_units is not built yet: reading the reporting units from the seed file")
        return dict(reference_data().units)
    return {r[0]: ReportingUnit(*r) for r in rows}


def _rejected_drops(conn: psycopg.Connection, run_id: str, units: dict[str, ReportingUnit]) -> list[RejectedDrop]:
    rows = conn.execute(
        """select s.submission_id, s.prefecture_code, d.name_zh, s.period, s.drop_name, s.reasons, s.quarantine_path
           from ingest.submissions s
           left join reference.admin_divisions d on d.code = s.prefecture_code
           where s.run_id = %s and s.status = 'rejected'
           order by s.prefecture_code, s.period, s.drop_name""", (run_id,)).fetchall()
    drops = []
    for submission_id, unit, division_name, period, name, reasons, quarantine in rows:
        unit_name = units[unit].name_zh if unit in units else division_name
        rules = tuple(RuleCount(r["rule"], r["count"], r["zh"], r["en"]) for r in reasons if r["severity"] == "error")
        report = report_location(quarantine)
        # the folder of a drop that is no unit's, and the drop's name, are the sender's text: masked for the mail
        drops.append(RejectedDrop(submission_id, mask_id_numbers_in(unit), unit_name, mask_id_numbers_in(period),
                                  mask_id_numbers_in(printable_name(name)), rules, report))
    return drops


def _dropped_forms(conn: psycopg.Connection, run_id: str, units: dict[str, ReportingUnit]) -> list[DroppedForms]:
    rows = conn.execute(
        """select s.submission_id, s.prefecture_code, d.name_zh, s.period, s.drop_name,
                  array_agg(f.form), array_agg(f.value)
           from ingest.submissions s
           join ingest.drop_findings f using (submission_id)
           left join reference.admin_divisions d on d.code = s.prefecture_code
           where s.run_id = %s and s.status in ('accepted', 'superseded') and f.rule = 'form_dropped_by_correction'
           group by 1, 2, 3, 4, 5
           order by s.prefecture_code, s.period, s.drop_name""", (run_id,)).fetchall()
    return [DroppedForms(submission_id, unit, units[unit].name_zh if unit in units else division_name, period, name,
                         tuple(sorted(zip(forms, values), key=lambda fv: list(FORMS).index(fv[0]))))
            for submission_id, unit, division_name, period, name, forms, values in rows]


def _expected_reports(unit: ReportingUnit, as_of: datetime) -> list[tuple[str, str, datetime]]:
    """(report, period, deadline) of every report the unit owed by ``as_of``."""
    last_month = period_of(as_of.astimezone(SHANGHAI).date())
    if unit.active_to and unit.active_to < last_month:
        last_month = unit.active_to
    expected = []
    month = unit.active_from
    while month <= last_month:
        expected.append((MONTHLY, month, deadline(month)))
        month = next_period(month)
    for year in range(int(unit.active_from[:4]), int(last_month[:4]) + 1):
        expected.append((ANNUAL_PLAN, str(year), deadline(str(year))))
        expected.append((ANNUAL_YEAR_END, str(year), deadline(str(year), YEAR_END_FORMS)))
    return [e for e in expected if e[2] < as_of]


def _missing_reports(conn: psycopg.Connection, units: dict[str, ReportingUnit], as_of: datetime) -> list[MissingReport]:
    # Which report a drop speaks to, as in rpt_reporting_completeness: an annual drop to the plan when it holds
    # targets or population, to the year-end count when it holds a year-end form (sites, grassroots); a rejected
    # annual drop to both.
    drops = conn.execute(
        """select s.prefecture_code, s.period, r.report,
                  bool_or(s.status in ('accepted', 'superseded')) as accepted,
                  count(*) filter (where s.status = 'rejected') as rejected
           from ingest.submissions s
           cross join lateral (values
               ('monthly', s.period !~ '^[0-9]{4}$'),
               ('annual_plan', s.period ~ '^[0-9]{4}$'
                    and (s.status = 'rejected' or s.row_counts ? 'targets' or s.row_counts ? 'population')),
               ('annual_year_end', s.period ~ '^[0-9]{4}$' and (s.status = 'rejected' or s.row_counts ?| %s))
           ) as r(report, applies)
           where r.applies and s.status in ('accepted', 'superseded', 'rejected')
             and s.decided_at <= %s
           group by 1, 2, 3""", (sorted(YEAR_END_FORMS), as_of)).fetchall()
    seen = {(unit, period, report): (accepted, rejected) for unit, period, report, accepted, rejected in drops}
    missing = []
    for code in sorted(units):
        unit = units[code]
        for report, period, due in _expected_reports(unit, as_of):
            accepted, rejected = seen.get((code, period, report), (False, 0))
            if not accepted:
                missing.append(MissingReport(code, unit.name_zh, period, report, due, rejected))
    return missing
