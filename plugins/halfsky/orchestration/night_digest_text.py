"""The night's digest in words: its subject, plain text and HTML, every line in Chinese then in English
(``format_digest``), and its JSON fields for a webhook's receiver (``digest_payload``), from the
``NightDigest`` of ``night_digest_queries``.

Missing reports come in three parts, so this cycle's reminders are not buried under years of gaps: the units
that missed the latest period due (``latest_due``), the same units' earlier gaps (one line per unit, periods
folded into spans: 2022-01–2026-06 rather than 54 lines), and one line naming the units that never sent an
accepted report. Drop names and paths come from the landing zone: printable in the text, escaped in the HTML,
always.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from itertools import groupby

from halfsky.contract.forms import FORMS
from halfsky.contract.periods import SHANGHAI, next_period
from halfsky.contract.rules import RULES
from halfsky.contract.untrusted_text import printable_name
from halfsky.orchestration.night_digest_queries import (
    ANNUAL_PLAN,
    ANNUAL_YEAR_END,
    MONTHLY,
    MissingReport,
    NightDigest,
    RuleCount,
    latest_due,
)

# The expected reports, with their names for people.
REPORT_NAMES = {
    MONTHLY: ("月报", "monthly report"),
    ANNUAL_PLAN: ("年度计划（任务、人口基数）", "annual plan (targets, population)"),
    ANNUAL_YEAR_END: ("年末阵地组织数、基层组织覆盖", "year-end count of sites and grassroots coverage"),
}
# The same, short: for the heading that says which periods are the latest due.
SHORT_REPORT_NAMES = {MONTHLY: ("月报", "monthly"), ANNUAL_PLAN: ("年度计划", "annual plan"),
                      ANNUAL_YEAR_END: ("年末统计", "year-end count")}


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
        rejected = f"{self.drops_rejected} 份被退回" if self.drops_rejected else ""
        unit = "个月" if self.report == MONTHLY else "年"
        count = f"共 {self.periods} {unit}" if self.periods > 1 else ""
        note = "，其中 ".join(x for x in (count, rejected) if x)
        return f"{REPORT_NAMES[self.report][0]} {'、'.join(self.spans)}" + (f"（{note}）" if note else "")

    @property
    def en(self) -> str:
        rejected = f"{self.drops_rejected} drop(s) rejected" if self.drops_rejected else ""
        unit = ("month" if self.report == MONTHLY else "year") + "s"
        count = f"{self.periods} {unit}" if self.periods > 1 else ""
        note = ", ".join(x for x in (count, rejected) if x)
        return f"{REPORT_NAMES[self.report][1]} {', '.join(self.spans)}" + (f" ({note})" if note else "")


_REPORT_ORDER = {MONTHLY: 0, ANNUAL_PLAN: 1, ANNUAL_YEAR_END: 2}


def _missing_lines(missing: tuple[MissingReport, ...] | list[MissingReport]) -> list[_MissingLine]:
    """One line per reporting unit and report, its missing periods folded into spans."""
    def key(m: MissingReport) -> tuple[str, int]:
        return m.unit_code, _REPORT_ORDER[m.report]

    lines = []
    for _, group in groupby(sorted(missing, key=key), key=key):
        items = list(group)
        unit, report = items[0].unit_code, items[0].report
        spans = tuple(_span(*run) for run in _runs([m.period for m in items], report))
        lines.append(_MissingLine(unit, items[0].unit_name_zh, report, spans, len(items),
                                  sum(m.drops_rejected for m in items)))
    return lines


@dataclass(frozen=True)
class _UnitGaps:
    """One unit's line: its reports' gaps, joined."""

    unit_code: str
    unit_name_zh: str
    lines: tuple[_MissingLine, ...]

    @property
    def text(self) -> str:
        return f"{_unit_label(self.unit_code, self.unit_name_zh)}：{'；'.join(m.zh for m in self.lines)} / " \
               f"{'; '.join(m.en for m in self.lines)}"


@dataclass(frozen=True)
class _MissingSections:
    reports: int
    units: int
    due: dict[str, str]  # report -> its latest period due
    latest: tuple[_UnitGaps, ...]  # units that report, missing the latest period due
    earlier: tuple[_UnitGaps, ...]  # the same kind of units' older gaps
    never_reported: tuple[tuple[str, str], ...]  # (code, name) of units with no accepted drop for anything owed
    never_reported_reports: int

    @property
    def due_zh(self) -> str:
        return "、".join(f"{SHORT_REPORT_NAMES[r][0]} {p}" for r, p in self.due.items())

    @property
    def due_en(self) -> str:
        return ", ".join(f"{SHORT_REPORT_NAMES[r][1]} {p}" for r, p in self.due.items())


def _by_unit(missing: list[MissingReport]) -> tuple[_UnitGaps, ...]:
    lines = _missing_lines(missing)
    return tuple(_UnitGaps(unit, group[0].unit_name_zh, tuple(group))
                 for unit, group in ((u, list(g)) for u, g in groupby(lines, key=lambda m: m.unit_code)))


def _missing_sections(digest: NightDigest) -> _MissingSections:
    due = latest_due(digest.as_of)
    never = set(digest.never_reported)
    reporting = [m for m in digest.missing if m.unit_code not in never]
    names = {m.unit_code: m.unit_name_zh for m in digest.missing}
    return _MissingSections(
        reports=len(digest.missing), units=len(digest.missing_units), due=due,
        latest=_by_unit([m for m in reporting if m.period == due[m.report]]),
        earlier=_by_unit([m for m in reporting if m.period != due[m.report]]),
        never_reported=tuple((code, names.get(code, "")) for code in sorted(never)),
        never_reported_reports=sum(1 for m in digest.missing if m.unit_code in never))


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
            for m in _missing_lines(digest.missing)
        ],
        "latest_due": latest_due(digest.as_of),
        "never_reported": list(digest.never_reported),
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
    missing = _missing_sections(digest)
    return subject, _text(digest, missing, subject, run_url), _html(digest, missing, subject, run_url)


def _text(digest: NightDigest, missing: _MissingSections, subject: str, run_url: str | None) -> str:
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
    out += ["", f"截止日已过仍未报送的单位 / Reporting units missing after the deadline: {missing.units}"
                f"（{missing.reports} 份 / reports）"]
    if not missing.reports:
        out.append("- 无 / none")
    if missing.reports:
        out += [f"最近一期未报（{missing.due_zh}）/ Missing the latest period due ({missing.due_en}): "
                f"{len(missing.latest)}"]
        out += [f"- {gaps.text}" for gaps in missing.latest] or ["- 无 / none"]
    if missing.earlier:
        out += [f"更早的缺报 / Earlier gaps: {len(missing.earlier)}"]
        out += [f"- {gaps.text}" for gaps in missing.earlier]
    if missing.never_reported:
        out += [f"从未报送（应报以来无一份被接收）/ Never sent an accepted report since expected: "
                f"{len(missing.never_reported)}（{missing.never_reported_reports} 份 / reports）",
                "- " + ", ".join(_unit_label(code, name) for code, name in missing.never_reported)]
    if digest.unreachable:
        out += ["", f"无法通知的单位（未在 unit_emails 中登记邮箱）/ Units not told of their drops (no address in "
                    f"the Variable unit_emails): {', '.join(digest.unreachable)}"]
    if run_url:
        out += ["", f"运行详情 / Run details: {run_url}"]
    return "\n".join(out) + "\n"


def _html(digest: NightDigest, missing: _MissingSections, subject: str, run_url: str | None) -> str:
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
    def gap_rows(units: tuple[_UnitGaps, ...]) -> str:
        return "".join(
            f"<tr><td>{e(_unit_label(u.unit_code, u.unit_name_zh))}</td>"
            f"<td>{'<br>'.join(e(m.zh) for m in u.lines)}<br><small>{e('; '.join(m.en for m in u.lines))}</small></td></tr>"
            for u in units) or "<tr><td colspan='2'>无 / none</td></tr>"

    table = '<table border="1" cellpadding="4" cellspacing="0">\n<tr><th>单位<br>Unit</th><th>未报 / Missing</th></tr>\n'
    missing_html = ""
    if missing.reports:
        missing_html += (f"<h4>最近一期未报（{e(missing.due_zh)}）/ Missing the latest period due ({e(missing.due_en)}) "
                         f"({len(missing.latest)})</h4>\n{table}{gap_rows(missing.latest)}\n</table>")
    else:
        missing_html = "<p>无 / none</p>"
    if missing.earlier:
        missing_html += (f"\n<h4>更早的缺报 / Earlier gaps ({len(missing.earlier)})</h4>\n"
                         f"{table}{gap_rows(missing.earlier)}\n</table>")
    if missing.never_reported:
        missing_html += (f"\n<h4>从未报送（应报以来无一份被接收）/ Never sent an accepted report since expected "
                         f"({len(missing.never_reported)}, {missing.never_reported_reports} 份 / reports)</h4>\n<p>"
                         + e(", ".join(_unit_label(code, name) for code, name in missing.never_reported)) + "</p>")
    if digest.unreachable:
        link = (f"<h3>无法通知的单位 / Units not told of their drops ({len(digest.unreachable)})</h3>"
                f"<p>未在 unit_emails 中登记邮箱 / no address in the Variable unit_emails: "
                f"{e(', '.join(digest.unreachable))}</p>")
    else:
        link = ""
    if run_url and run_url.startswith(("http://", "https://")):
        link += f"<p>运行详情 / Run details: <a href=\"{e(run_url)}\">{e(run_url)}</a></p>"
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
<h3>截止日已过仍未报送的单位 / Reporting units missing after the deadline ({missing.units}; {missing.reports} 份 / reports)</h3>
{missing_html}
{link}
</body></html>
"""
