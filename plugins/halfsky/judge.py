"""The verdict on one drop: accepted (perhaps with warnings) or rejected, with every finding.

The pipeline and ``python -m halfsky.validate`` both call ``judge_drop``, so a
prefecture that checks a file before sending it gets the pipeline's answer.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from halfsky.drop_reader import DropRejected, read_drop
from halfsky.periods import deadline, is_future, is_period, period_bounds
from halfsky.reference.code_lists import ReferenceData, reference_data
from halfsky.reference.divisions import allowed_region_codes
from halfsky.rules import ERROR, RULES, Finding
from halfsky.row_typing import TypedForm, type_rows

log = logging.getLogger(__name__)


@dataclass
class Verdict:
    prefecture_code: str
    period: str
    format: str | None
    findings: list[Finding] = field(default_factory=list)
    forms: dict[str, TypedForm] = field(default_factory=dict)
    is_late: bool = False

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity != ERROR]

    @property
    def accepted(self) -> bool:
        return not self.errors

    @property
    def status(self) -> str:
        return "accepted" if self.accepted else "rejected"

    def row_counts(self) -> dict[str, int]:
        return {name: len(t) for name, t in self.forms.items()}

    def reasons(self) -> list[dict]:
        """One line per rule: what the submission log and the run summary show."""
        counts = Counter(f.rule for f in self.findings)
        return [
            {"rule": rule, "severity": RULES[rule].severity, "count": n, "zh": RULES[rule].zh, "en": RULES[rule].en}
            for rule, n in sorted(counts.items(), key=lambda kv: (RULES[kv[0]].severity != ERROR, kv[0]))
        ]


def path_findings(prefecture_code: str, period: str, as_of: datetime, ref: ReferenceData) -> list[Finding]:
    """What the drop's place in the landing zone already tells us."""
    if not is_period(period):
        return [Finding("malformed_period", value=period)]
    unit = ref.units.get(prefecture_code)
    if unit is None:
        return [Finding("unknown_prefecture", value=prefecture_code)]
    if not unit.expected_in(period):
        active = f"{unit.active_from}–{unit.active_to or ''}"
        return [Finding("inactive_prefecture", value=f"{prefecture_code} {period}", detail=f"active {active}")]
    if is_future(period, as_of):
        return [Finding("future_period", value=period, detail=f"as of {as_of:%Y-%m-%d}")]
    return []


def expectation_parameters(prefecture_code: str, period: str, ref: ReferenceData) -> dict:
    start, end = period_bounds(period)
    return {
        **{name: sorted(codes) for name, codes in ref.codes.items()},
        "allowed_region_codes": sorted(allowed_region_codes(prefecture_code)),
        "period_start": start,
        "period_end": end,
    }


def judge_drop(path: Path, prefecture_code: str, period: str, *, received_at: datetime, as_of: datetime,
               ref: ReferenceData | None = None) -> Verdict:
    from halfsky.gx_validation import validate  # GX is heavy: import only when a drop is judged

    ref = ref or reference_data()
    verdict = Verdict(prefecture_code, period, None)
    verdict.findings = path_findings(prefecture_code, period, as_of, ref)
    if verdict.findings:
        return verdict
    try:
        parsed = read_drop(path, prefecture_code, period)
    except DropRejected as exc:
        verdict.findings = [Finding(exc.rule, exc.form, field=exc.field, detail=exc.detail)]
        return verdict
    verdict.format = parsed.format
    parameters = expectation_parameters(prefecture_code, period, ref)
    # Rows are numbered as the sender sees them: spreadsheet rows start under the header, JSON at 1.
    first_row = 1 if parsed.format == "json" else 2
    for name, table in parsed.forms.items():
        typed = type_rows(table, first_row)
        verdict.forms[name] = typed
        verdict.findings += typed.findings
        verdict.findings += validate(typed, parameters)
    verdict.findings += [Finding("unknown_column", form, field=header) for form, header in parsed.unknown_columns]
    verdict.is_late = received_at > deadline(period)
    if verdict.is_late:
        verdict.findings.append(Finding("late_drop", value=received_at.isoformat(), detail=f"due {deadline(period):%Y-%m-%d %H:%M} Asia/Shanghai"))
    log.info("%s/%s %s: %s, %d rows, %d errors, %d warnings", prefecture_code, period, path.name, verdict.status,
             sum(verdict.row_counts().values()), len(verdict.errors), len(verdict.warnings))
    return verdict
