"""The night's digest: the drops a run rejected, the corrections it accepted that removed forms (their rows,
a funds form's money, left the warehouse), and the reports still missing after their deadline, zh/en.

Read from the submission log and the reference tables only, never from marts, so
the digest still goes out on a night the dbt build failed. "Expected" follows
``rpt_reporting_completeness``: each reporting unit's months between ``active_from``
and ``active_to`` (reference.reporting_units), its annual plan for each of those
years and its year-end count for each year that is over. Everything is judged at
the run's ``as_of``, so the digest of a past night can be composed again unchanged.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

import psycopg

from halfsky.contract.periods import SHANGHAI, YEAR_END_FORMS, deadline, next_period, period_of
from halfsky.contract.forms import FORMS
from halfsky.contract.reference.code_lists import ReportingUnit, reference_data
from halfsky.contract.rules import RULES
from halfsky.contract.untrusted_text import mask_id_numbers_in, printable_name

log = logging.getLogger(__name__)

# The expected reports of rpt_reporting_completeness, with their names for people.
MONTHLY, ANNUAL_PLAN, ANNUAL_YEAR_END = "monthly", "annual_plan", "annual_year_end"
REPORT_NAMES = {
    MONTHLY: ("月报", "monthly report"),
    ANNUAL_PLAN: ("年度计划（任务、人口基数）", "annual plan (targets, population)"),
    ANNUAL_YEAR_END: ("年末阵地组织数、基层组织覆盖", "year-end count of sites and grassroots coverage"),
}


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
    return NightDigest(run_id, as_of, tuple(rejected), tuple(missing), tuple(dropped))


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
        report = f"{quarantine.rstrip('/')}/report.html" if quarantine else None
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


# -- formatting --------------------------------------------------------------------------------------------

def _runs(periods: list[str], kind: str) -> list[tuple[str, str]]:
    """Consecutive periods folded into (first, last): 2022-01…2026-09 rather than 57 entries."""
    step = next_period if kind == MONTHLY else (lambda year: str(int(year) + 1))
    runs: list[list[str]] = []
    for period in sorted(periods):
        if runs and step(runs[-1][1]) == period:
            runs[-1][1] = period
        else:
            runs.append([period, period])
    return [(first, last) for first, last in runs]


def _span(first: str, last: str) -> str:
    return first if first == last else f"{first}–{last}"


@dataclass(frozen=True)
class _MissingLine:
    unit_code: str
    unit_name_zh: str
    report: str
    spans: tuple[str, ...]
    periods: int
    drops_rejected: int

    @property
    def zh(self) -> str:
        rejected = f"，其中 {self.drops_rejected} 份被退回" if self.drops_rejected else ""
        unit = "个月" if self.report == MONTHLY else "年"
        return f"{REPORT_NAMES[self.report][0]} {'、'.join(self.spans)}（共 {self.periods} {unit}{rejected}）"

    @property
    def en(self) -> str:
        rejected = f", {self.drops_rejected} drop(s) rejected" if self.drops_rejected else ""
        unit = ("month" if self.report == MONTHLY else "year") + ("s" if self.periods > 1 else "")
        return f"{REPORT_NAMES[self.report][1]} {', '.join(self.spans)} ({self.periods} {unit}{rejected})"


_REPORT_ORDER = {MONTHLY: 0, ANNUAL_PLAN: 1, ANNUAL_YEAR_END: 2}


def _missing_lines(digest: NightDigest) -> list[_MissingLine]:
    """One line per reporting unit and report, its missing periods folded into spans."""
    def key(m: MissingReport) -> tuple[str, int]:
        return m.unit_code, _REPORT_ORDER[m.report]

    lines = []
    for _, group in groupby(sorted(digest.missing, key=key), key=key):
        items = list(group)
        unit, report = items[0].unit_code, items[0].report
        spans = tuple(_span(*run) for run in _runs([m.period for m in items], report))
        lines.append(_MissingLine(unit, items[0].unit_name_zh, report, spans, len(items),
                                  sum(m.drops_rejected for m in items)))
    return lines


def digest_payload(digest: NightDigest) -> dict:
    """The digest as JSON fields, for machines (a webhook's receiver): missing periods folded into spans."""
    return {
        "run_id": digest.run_id,
        "as_of": digest.as_of.isoformat(),
        "rejected": [
            {"submission_id": d.submission_id, "unit_code": d.unit_code, "unit_name_zh": d.unit_name_zh,
             "period": d.period, "drop_name": d.drop_name, "rules": [r.rule for r in d.rules], "report": d.report}
            for d in digest.rejected
        ],
        "dropped_forms": [
            {"submission_id": d.submission_id, "unit_code": d.unit_code, "unit_name_zh": d.unit_name_zh,
             "period": d.period, "drop_name": d.drop_name, "forms": [form for form, _ in d.forms]}
            for d in digest.dropped_forms
        ],
        "missing": [
            {"unit_code": m.unit_code, "unit_name_zh": m.unit_name_zh, "report": m.report, "periods": list(m.spans),
             "period_count": m.periods, "drops_rejected": m.drops_rejected}
            for m in _missing_lines(digest)
        ],
    }


def _unit_label(code: str, name_zh: str | None) -> str:
    return f"{code} {name_zh}" if name_zh else f"{code}（未知单位 / unknown unit）"


def _rules_text(rules: tuple[RuleCount, ...]) -> str:
    return "; ".join(f"{r.rule} ×{r.count}：{r.zh} / {r.en}" for r in rules) or "—"


def format_digest(digest: NightDigest, run_url: str | None = None) -> tuple[str, str, str]:
    """(subject, plain text, HTML); every line says it in Chinese, then in English."""
    n_rejected, n_units = len(digest.rejected), len(digest.missing_units)
    subject = (f"半边天 {digest.day}: {n_rejected} 份被退回 / {n_rejected} rejected, "
               f"{n_units} 个单位逾期未报 / {n_units} missing")
    missing = _missing_lines(digest)
    return subject, _text(digest, missing, subject, run_url), _html(digest, missing, subject, run_url)


def _text(digest: NightDigest, missing: list[_MissingLine], subject: str, run_url: str | None) -> str:
    as_of = f"{digest.as_of.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"
    out = [subject, f"运行 / run: {digest.run_id}（截至 / as of {as_of} 北京时间 / Beijing time）", "",
           f"本次运行退回的报送 / Drops rejected by this run: {len(digest.rejected)}"]
    for d in digest.rejected:
        out.append(f"- {_unit_label(d.unit_code, d.unit_name_zh)} {d.period} 「{printable_name(d.drop_name)}」")
        out.append(f"  退回原因 / rules: {_rules_text(d.rules)}")
        if d.report:
            out.append(f"  报告 / report: {printable_name(d.report)}")
    if not digest.rejected:
        out.append("- 无 / none")
    if digest.dropped_forms:
        rule = RULES["form_dropped_by_correction"]
        out += ["", f"本次运行接收的更正缺少原有报表 / Corrections accepted by this run that lack a form: {len(digest.dropped_forms)}",
                f"  {rule.zh} / {rule.en}"]
        for d in digest.dropped_forms:
            out.append(f"- {_unit_label(d.unit_code, d.unit_name_zh)} {d.period} 「{printable_name(d.drop_name)}」")
            out += [f"  {FORMS[form].zh} {form}：{what}" for form, what in d.forms]
    out += ["", f"截止日已过仍未报送的单位 / Reporting units missing after the deadline: {len(digest.missing_units)}"]
    for line in missing:
        out.append(f"- {_unit_label(line.unit_code, line.unit_name_zh)}：{line.zh} / {line.en}")
    if not missing:
        out.append("- 无 / none")
    if run_url:
        out += ["", f"运行详情 / Run details: {run_url}"]
    return "\n".join(out) + "\n"


def _html(digest: NightDigest, missing: list[_MissingLine], subject: str, run_url: str | None) -> str:
    e = html.escape  # drop names and paths come from the landing zone: escape everything, always
    rejected_rows = "".join(
        f"<tr><td>{e(_unit_label(d.unit_code, d.unit_name_zh))}</td><td>{e(d.period)}</td>"
        f"<td><code>{e(printable_name(d.drop_name))}</code></td>"
        f"<td>{'<br>'.join(f'<b>{e(r.rule)}</b> ×{r.count}：{e(r.zh)}<br><small>{e(r.en)}</small>' for r in d.rules) or '—'}</td>"
        f"<td><code>{e(printable_name(d.report or '—'))}</code></td></tr>"
        for d in digest.rejected
    ) or "<tr><td colspan='5'>无 / none</td></tr>"
    dropped_rows = "".join(
        f"<tr><td>{e(_unit_label(d.unit_code, d.unit_name_zh))}</td><td>{e(d.period)}</td>"
        f"<td><code>{e(printable_name(d.drop_name))}</code></td>"
        f"<td>{'<br>'.join(f'<b>{e(FORMS[form].zh)} {e(form)}</b>：{e(what)}' for form, what in d.forms)}</td></tr>"
        for d in digest.dropped_forms
    )
    dropped = "" if not dropped_rows else f"""<h3>本次运行接收的更正缺少原有报表 / Corrections accepted by this run that lack a form ({len(digest.dropped_forms)})</h3>
<p>{e(RULES["form_dropped_by_correction"].zh)}<br><small>{e(RULES["form_dropped_by_correction"].en)}</small></p>
<table border="1" cellpadding="4" cellspacing="0">
<tr><th>单位<br>Unit</th><th>报送期<br>Period</th><th>文件<br>Drop</th><th>移除的报表<br>Forms removed</th></tr>
{dropped_rows}
</table>"""
    missing_rows = "".join(
        f"<tr><td>{e(_unit_label(m.unit_code, m.unit_name_zh))}</td><td>{e(m.zh)}<br><small>{e(m.en)}</small></td></tr>"
        for m in missing
    ) or "<tr><td colspan='2'>无 / none</td></tr>"
    link = ""
    if run_url and run_url.startswith(("http://", "https://")):
        link = f"<p>运行详情 / Run details: <a href=\"{e(run_url)}\">{e(run_url)}</a></p>"
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{e(subject)}</title></head>
<body style="font-family: sans-serif">
<h2>{e(subject)}</h2>
<p>运行 / run: <code>{e(digest.run_id)}</code>，截至 / as of {digest.as_of.astimezone(SHANGHAI):%Y-%m-%d %H:%M} 北京时间 / Beijing time</p>
<h3>本次运行退回的报送 / Drops rejected by this run ({len(digest.rejected)})</h3>
<table border="1" cellpadding="4" cellspacing="0">
<tr><th>单位<br>Unit</th><th>报送期<br>Period</th><th>文件<br>Drop</th><th>退回原因<br>Rules</th><th>报告<br>Report</th></tr>
{rejected_rows}
</table>
{dropped}
<h3>截止日已过仍未报送的单位 / Reporting units missing after the deadline ({len(digest.missing_units)})</h3>
<table border="1" cellpadding="4" cellspacing="0">
<tr><th>单位<br>Unit</th><th>未报 / Missing</th></tr>
{missing_rows}
</table>
{link}
</body></html>
"""
