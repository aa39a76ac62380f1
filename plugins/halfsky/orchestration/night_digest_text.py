"""The night's digest in words: its subject, plain text and HTML, every line in Chinese then in English
(``format_digest``), and its JSON fields for a webhook's receiver (``digest_payload``), from the
``NightDigest`` of ``night_digest_queries``.

A unit's missing periods fold into spans (2022-01–2026-09 rather than 57 lines). Drop names and paths come
from the landing zone: printable in the text, escaped in the HTML, always.
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
)

# The expected reports, with their names for people.
REPORT_NAMES = {
    MONTHLY: ("月报", "monthly report"),
    ANNUAL_PLAN: ("年度计划（任务、人口基数）", "annual plan (targets, population)"),
    ANNUAL_YEAR_END: ("年末阵地组织数、基层组织覆盖", "year-end count of sites and grassroots coverage"),
}


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
    if digest.unreachable:
        out += ["", f"无法通知的单位（未在 unit_emails 中登记邮箱）/ Units not told of their drops (no address in "
                    f"the Variable unit_emails): {', '.join(digest.unreachable)}"]
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
<h3>截止日已过仍未报送的单位 / Reporting units missing after the deadline ({len(digest.missing_units)})</h3>
<table border="1" cellpadding="4" cellspacing="0">
<tr><th>单位<br>Unit</th><th>未报 / Missing</th></tr>
{missing_rows}
</table>
{link}
</body></html>
"""
