"""The report a prefecture gets for a drop: every finding as rows (JSON, CSV) and an HTML page, in Chinese and English.

The sender's cells are untrusted and personal: an id number is shown by its last four characters only
(``**************002X``: enough to find the row, not to know the person), in the id_number field and
wherever a valid one stands inside another value, a detail or the drop's name; HTML escapes every value;
the CSV prefixes a cell Excel would run as a formula. The files are the pipeline account's only (0600).
"""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path

from halfsky.ingest.judging.judge import Verdict
from halfsky.contract.rules import RULES, Finding
from halfsky.contract.untrusted_text import mask_id_number, mask_id_numbers_in, neutralise_formula
from halfsky.config.private_files import write_private

PRIVATE_DIR = 0o700
# Each report file: 0600 from its first byte, a report written again narrowed first, never through a link
# planted where it goes (halfsky.config.private_files).
_TEXT = {"encoding": "utf-8", "newline": ""}

COLUMNS = ("severity", "rule", "form", "row_number", "field", "value", "detail", "message_zh", "message_en")


def shown_value(finding: Finding) -> str | None:
    """The finding's value as a report shows it: an id number masked to its last four characters."""
    if not finding.value:
        return finding.value
    if finding.field == "id_number" and finding.rule not in _ID_FIELD_SUMMARIES:
        return mask_id_number(finding.value)
    # A pair or a sentence naming id numbers (id_number=…, program_code=…): every id-shaped run in it.
    return mask_id_numbers_in(finding.value, valid_only="id_number" not in (finding.field or "").split("+"))


# Findings on the id_number field whose value is a sentence about the row, not the number itself.
_ID_FIELD_SUMMARIES = {"ineligible_beneficiary", "persons_exceed_person_times"}


def finding_rows(findings: list[Finding]) -> list[dict]:
    return [
        {
            "severity": f.severity, "rule": f.rule, "form": f.form, "row_number": f.row_number, "field": f.field,
            "value": shown_value(f), "detail": mask_id_numbers_in(f.detail), "message_zh": RULES[f.rule].zh,
            "message_en": RULES[f.rule].en,
        }
        for f in findings
    ]


def render_json(verdict: Verdict, drop_name: str, submission_id: int | None = None) -> str:
    drop_name = mask_id_numbers_in(drop_name)
    return json.dumps({
        "submission_id": submission_id, "drop": drop_name, "prefecture_code": verdict.prefecture_code,
        "period": verdict.period, "status": verdict.status, "row_counts": verdict.row_counts(),
        "summary": verdict.reasons(), "findings": finding_rows(verdict.findings),
    }, ensure_ascii=False, indent=1, default=str)


def render_csv(verdict: Verdict) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    # The sender's cells are shown as text: a formula in them must not run when staff open the file.
    writer.writerows({k: neutralise_formula(v) for k, v in row.items()} for row in finding_rows(verdict.findings))
    return "\ufeff" + out.getvalue()  # BOM: Excel on Chinese Windows then opens it as UTF-8


def render_html(verdict: Verdict, drop_name: str, submission_id: int | None = None) -> str:
    e = html.escape
    drop_name = mask_id_numbers_in(drop_name)
    accepted = verdict.accepted
    title_zh = "已接收" if accepted else "已退回，请修改后重新报送"
    title_en = "Accepted" if accepted else "Rejected: please correct and send again"
    summary = "".join(
        f"<tr class='{r['severity']}'><td>{e(r['rule'])}</td><td>{r['count']:,}</td><td>{e(r['zh'])}</td><td>{e(r['en'])}</td></tr>"
        for r in verdict.reasons()
    )
    rows = "".join(
        "<tr class='{severity}'><td>{form}</td><td>{row}</td><td>{field}</td><td>{value}</td><td>{zh}<br><small>{en}</small></td><td>{detail}</td></tr>".format(
            severity=r["severity"], form=e(r["form"] or ""), row=r["row_number"] or "", field=e(r["field"] or ""),
            value=e(r["value"] or ""), zh=e(r["message_zh"]), en=e(r["message_en"]), detail=e(r["detail"] or ""))
        for r in finding_rows(verdict.findings)
    )
    counts = ", ".join(f"{k}: {v:,}" for k, v in verdict.row_counts().items()) or "—"
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{e(drop_name)} — {title_zh}</title>
<style>
body{{font-family:system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}}
h1{{color:{'#1a7f37' if accepted else '#b42318'}}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}} th{{background:#f3f3f3}}
tr.error td:first-child{{border-left:4px solid #b42318}} tr.warning td:first-child{{border-left:4px solid #dba400}}
</style></head><body>
<h1>{title_zh}<br><small>{title_en}</small></h1>
<p>报送单位 Prefecture: <b>{e(verdict.prefecture_code)}</b> · 报送期 Period: <b>{e(verdict.period)}</b> ·
文件 Drop: <b>{e(drop_name)}</b>{f' · 提交编号 Submission: <b>{submission_id}</b>' if submission_id else ''}</p>
<p>行数 Rows: {e(counts)}</p>
<h2>问题汇总 Summary</h2>
<table><tr><th>规则 Rule</th><th>数量 Count</th><th>说明</th><th>Meaning</th></tr>{summary or '<tr><td colspan=4>无问题 No findings</td></tr>'}</table>
<h2>问题明细 Every finding</h2>
<p>行号为表格中显示的行号（JSON 为列表中的第几条）。Row numbers are as shown in the spreadsheet (for JSON, the position in the list).</p>
<table><tr><th>报表 Form</th><th>行 Row</th><th>字段 Field</th><th>值 Value</th><th>问题 Problem</th><th>说明 Detail</th></tr>{rows}</table>
</body></html>
"""


def report_location(folder: str | None) -> str | None:
    """Where the HTML report of a drop stored in ``folder`` (a quarantine folder or URL) is; None without one."""
    return f"{folder.rstrip('/')}/report.html" if folder else None


def write_report(directory: Path, verdict: Verdict, drop_name: str, submission_id: int | None = None) -> Path:
    if not directory.exists():
        directory.mkdir(parents=True, mode=PRIVATE_DIR)
        directory.chmod(PRIVATE_DIR)  # mkdir's mode is masked by the umask
    write_private(directory / "report.json", render_json(verdict, drop_name, submission_id), **_TEXT)
    write_private(directory / "report.csv", render_csv(verdict), **_TEXT)
    write_private(directory / "report.html", render_html(verdict, drop_name, submission_id), **_TEXT)
    return directory / "report.html"
