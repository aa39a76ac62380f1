"""The verdict on one drop: accepted (perhaps with warnings) or rejected, with every finding.

The pipeline and ``python -m halfsky.validate`` both call ``judge_drop``, so a
prefecture that checks a file before sending it gets the pipeline's answer.
"""

from __future__ import annotations

import logging
import traceback
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from halfsky.ingest.reading.drop import DropRejected
from halfsky.ingest.reading.drop_reader import read_drop
from halfsky.ingest.judging.drop_warnings import ineligible_beneficiaries, persons_over_person_times
from halfsky.contract.forms import FORMS
from halfsky.contract.periods import SHANGHAI, deadline, is_future, is_period, is_year, period_bounds, period_kind
from halfsky.contract.reference.code_lists import ReferenceData, reference_data
from halfsky.contract.reference.divisions import all_divisions, allowed_region_codes
from halfsky.contract.rules import ERROR, RULES, Finding
from halfsky.ingest.stage_clock import stage
from halfsky.ingest.judging.row_typing import TypedForm, type_rows
from halfsky.ingest.judging.unit_rules import row_unit_findings
from halfsky.contract.untrusted_text import printable_name, storable_text

log = logging.getLogger(__name__)


@dataclass
class Verdict:
    prefecture_code: str
    period: str
    format: str | None
    findings: list[Finding] = field(default_factory=list)
    forms: dict[str, TypedForm] = field(default_factory=dict)
    is_late: bool = False
    notes: str | None = None  # a csv folder's manifest.json notes (contract v3: shown to analysts, ids masked)
    # A verdict rebuilt from the submission log has no typed forms, only the row counts the log kept.
    logged_row_counts: dict[str, int] | None = None

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
        if self.logged_row_counts is not None and not self.forms:
            return dict(self.logged_row_counts)
        return {name: len(t) for name, t in self.forms.items()}

    @classmethod
    def rejected(cls, prefecture_code: str, period: str, finding: Finding) -> "Verdict":
        return cls(prefecture_code, period, None, [finding])

    @classmethod
    def internal_error(cls, prefecture_code: str, period: str, exc: BaseException) -> "Verdict":
        """A bug or an unforeseen input: this drop is rejected, with the exception in its report, and the night goes on."""
        return cls.rejected(prefecture_code, period, Finding("internal_error", detail=describe_exception(exc)))

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
    if not (unit.expected_in_year(period) if is_year(period) else unit.expected_in(period)):
        active = f"{unit.active_from}–{unit.active_to or ''}"
        return [Finding("inactive_prefecture", value=f"{prefecture_code} {period}", detail=f"active {active}")]
    if is_future(period, as_of):
        return [Finding("future_period", value=period, detail=f"as of {as_of:%Y-%m-%d}")]
    return []


# The region lists every unit's drops share, with the divisions they were drawn from: drawn once, not once per
# drop (a national month-end of 330 units spent half a second sorting the same division list). A unit's own list
# comes from allowed_region_codes' index of every unit (halfsky.contract.reference.divisions).
_SHARED_REGION_LISTS: list[tuple[dict, list[str], list[str]]] = []


def _region_lists(prefecture_code: str) -> tuple[list[str], list[str], list[str]]:
    divisions = all_divisions()
    if not _SHARED_REGION_LISTS or _SHARED_REGION_LISTS[0][0] is not divisions:  # reference data reloaded: again
        above_county = sorted(code for code, d in divisions.items() if d.level != "county")
        _SHARED_REGION_LISTS[:] = [(divisions, sorted(divisions), above_county)]
    _, division_codes, above_county = _SHARED_REGION_LISTS[0]
    return sorted(allowed_region_codes(prefecture_code)), division_codes, above_county


OPENING_BALANCE = "OPENING_BALANCE"


def expectation_parameters(prefecture_code: str, period: str, ref: ReferenceData) -> dict:
    start, end = period_bounds(period)
    allowed, divisions, above_county = _region_lists(prefecture_code)
    return {
        **{name: sorted(codes) for name, codes in ref.codes.items()},
        "allowed_region_codes": allowed,
        "division_codes": divisions,
        # Contract v3: a grassroots row is a county-level region (not_a_county), never a prefecture or province.
        "above_county_region_codes": above_county,
        "period_start": start,
        "period_end": end,
        # Contract v3: an opening balance is dated 1 January and sent only in the drop for YYYY-01.
        "year_start": start.replace(month=1, day=1),
        "flow_types_refused_in_period": [] if period[4:] in ("", "-01") else [OPENING_BALANCE],
    }


MAX_NOTES = 2000  # characters of a manifest's notes kept: an explanation, not a document


def manifest_notes(manifest: dict) -> str | None:
    """The notes of a csv folder's manifest.json as text (a list of lines is joined), None when there are none."""
    notes = manifest.get("notes") if isinstance(manifest, dict) else None
    if isinstance(notes, list):
        notes = "\n".join(str(line) for line in notes)
    if notes is None or not str(notes).strip():
        return None
    return storable_text(str(notes).strip())[:MAX_NOTES]


def describe_exception(exc: BaseException) -> str:
    """The exception and where it was raised, for the report and the admins; no traceback noise."""
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    place = f" (at {where[0].filename.rsplit('/', 1)[-1]}:{where[0].lineno} in {where[0].name})" if where else ""
    return f"{type(exc).__name__}: {str(exc)[:500]}{place}"


def judge_drop(path: Path, prefecture_code: str, period: str, *, received_at: datetime, as_of: datetime,
               ref: ReferenceData | None = None) -> Verdict:
    """The verdict on one drop. Never raises for anything the drop holds: an unexpected error rejects
    this drop as ``internal_error`` so the unit's other drops, and the night, go on."""
    try:
        return _judge(path, prefecture_code, period, received_at=received_at, as_of=as_of, ref=ref)
    except Exception as exc:
        log.exception("%s/%s %s: judging failed; rejected as internal_error", prefecture_code, period, printable_name(path.name))
        return Verdict.internal_error(prefecture_code, period, exc)


def _judge(path: Path, prefecture_code: str, period: str, *, received_at: datetime, as_of: datetime,
           ref: ReferenceData | None) -> Verdict:
    from halfsky.ingest.judging.suite_checks import validate  # polars is heavy: import only when a drop is judged

    ref = ref or reference_data()
    verdict = Verdict(prefecture_code, period, None)
    verdict.findings = path_findings(prefecture_code, period, as_of, ref)
    if verdict.findings:
        return verdict
    try:
        with stage("read"):
            parsed = read_drop(path, prefecture_code, period)
    except DropRejected as exc:
        verdict.findings = [Finding(exc.rule, exc.form, field=exc.field, detail=exc.detail)]
        return verdict
    verdict.format = parsed.format
    verdict.notes = manifest_notes(parsed.manifest)
    parameters = expectation_parameters(prefecture_code, period, ref)
    # Rows are numbered as the sender sees them: spreadsheet rows start under the header, JSON at 1.
    first_row = 1 if parsed.format == "json" else 2
    kind = period_kind(period)
    for name, table in parsed.forms.items():
        if FORMS[name].period_kind != kind:
            verdict.findings.append(Finding("wrong_period_kind", name, detail=(
                f"{name} ({FORMS[name].zh}) is a {FORMS[name].period_kind}ly form, but this drop is for the {kind} {period}")))
            continue
        with stage("type"):
            typed = type_rows(table, first_row)
        verdict.forms[name] = typed
        verdict.findings += typed.findings
        with stage("validate"):
            verdict.findings += validate(typed, parameters)
        with stage("rules"):
            verdict.findings += row_unit_findings(typed, ref)
    with stage("rules"):
        if "beneficiaries" in verdict.forms:
            verdict.findings += ineligible_beneficiaries(verdict.forms["beneficiaries"], ref)
            verdict.findings += persons_over_person_times(verdict.forms.get("activity"), verdict.forms["beneficiaries"])
    verdict.findings += parsed.warnings
    due = deadline(period, set(verdict.forms))
    verdict.is_late = received_at > due
    if verdict.is_late:
        # Received and due in the same zone (a file's time comes in UTC): staff compare them at a glance.
        verdict.findings.append(Finding("late_drop", value=received_at.astimezone(SHANGHAI).isoformat(),
                                        detail=f"due {due:%Y-%m-%d %H:%M} Asia/Shanghai"))
    log.debug("%s/%s %s: %s, %d rows, %d errors, %d warnings", prefecture_code, period, printable_name(path.name), verdict.status,
             sum(verdict.row_counts().values()), len(verdict.errors), len(verdict.warnings))
    return verdict
