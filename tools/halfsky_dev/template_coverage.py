"""python -m halfsky_dev.template_coverage: of the demo's rejected drops, how many the workbook template and the
upload page would have stopped at entry, drop by drop.

Writes the demo's sample (``make demo``'s arguments) to a temporary folder, judges every drop the truth file
expects rejected with the night's own judge, and sorts each by its error rules against
``halfsky.portal.workbook_template``'s STOPPED_AT_ENTRY (refused as typed), PREVENTED_BY_LAYOUT (the template's
sheets and headers) and PREVENTED_BY_UPLOAD_PAGE (the page files the drop under the right unit and period). A
``type`` error counts as stopped only in a cell the template types (a number, date, yes/no or id number).
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path

from halfsky.contract.forms import FORMS, TEXT
from halfsky.ingest.judging.judge import judge_drop
from halfsky.portal.workbook_template import PREVENTED_BY_LAYOUT, PREVENTED_BY_UPLOAD_PAGE, STOPPED_AT_ENTRY
from halfsky_dev.demo import LOGICAL_DATE
from halfsky_dev.sample.__main__ import main as generate

DEMO_ARGS = ("--prefectures", "6", "--months", "3", "--prior-year", "--dirty", "--invalid", "all", "--resubmissions",
             "2", "--duplicates", "1", "--with-warnings", "--force")


def _stopped(finding) -> bool:
    if finding.rule == "type":
        form = FORMS.get(finding.form or "")
        field = next((f for f in form.fields if f.name == finding.field), None) if form else None
        return field is not None and field.kind != TEXT
    return finding.rule in STOPPED_AT_ENTRY


def classify(verdict) -> str:
    errors = verdict.errors
    if errors and all(_stopped(f) for f in errors):
        return "stopped as typed (template's data validation)"
    if errors and all(_stopped(f) or f.rule in PREVENTED_BY_LAYOUT for f in errors):
        return "prevented by the template's sheets and headers"
    if errors and all(_stopped(f) or f.rule in PREVENTED_BY_LAYOUT | PREVENTED_BY_UPLOAD_PAGE for f in errors):
        return "prevented by the upload page (unit and period chosen for the sender)"
    return "not prevented"


def main() -> int:
    as_of = datetime.fromisoformat(f"{LOGICAL_DATE}T00:00:00+08:00")
    with tempfile.TemporaryDirectory() as tmp:
        root, truth_path = Path(tmp) / "land", Path(tmp) / "truth.json"
        generate([str(root), *DEMO_ARGS, "--truth", str(truth_path)])
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        rejected = [d for d in truth["drops"] if d["expected_status"] == "rejected"]
        tally: Counter = Counter()
        print(f"{len(rejected)} drops of the demo are rejected:")
        for d in rejected:
            verdict = judge_drop(root / d["path"], d["prefecture_code"], d["period"], received_at=as_of, as_of=as_of)
            kind = classify(verdict)
            tally[kind] += 1
            print(f"  {d['path']:<60} {','.join(sorted({f.rule for f in verdict.errors})):<32} {kind}")
    print()
    for kind, n in tally.most_common():
        print(f"{n:>3}  {kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
