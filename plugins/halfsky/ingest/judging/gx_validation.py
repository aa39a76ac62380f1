"""Run the Great Expectations suites in expectations/ over a drop's typed rows.

The suites are JSON files reviewed like code; each expectation names the
contract rule it enforces in ``meta.rule``. Code lists, the prefecture's
regions and the period's bounds are passed as expectation parameters at run
time, so a fix to reference data needs no change to a suite.
"""

from __future__ import annotations

import json
import logging
import os
from functools import lru_cache
from pathlib import Path

from halfsky.contract.rules import Finding
from halfsky.ingest.judging.row_typing import TypedForm

log = logging.getLogger(__name__)

SUITE_DIR = Path(__file__).resolve().parents[4] / "expectations"


def suite_dir() -> Path:
    return Path(os.environ.get("HALFSKY_EXPECTATIONS_DIR", SUITE_DIR))


def load_suite_documents() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(suite_dir().glob("*.json"))}


@lru_cache(maxsize=1)
def _validation_definitions() -> dict:
    """One ephemeral GX context per process: a pandas data source, an asset and a suite per form."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    # GX logs every expectation it registers at INFO while it is imported: hundreds of lines above the
    # drops' verdicts in a task log. One of its modules sets its own logger to INFO, hence the second line.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    import halfsky.ingest.judging.gx_id_number  # noqa: F401  registers the custom expectation

    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("drops")
    definitions = {}
    for form, doc in load_suite_documents().items():
        suite = gx.ExpectationSuite(name=doc["name"], meta=doc.get("meta", {}))
        for e in doc["expectations"]:
            suite.add_expectation_configuration(ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"], meta=e["meta"]))
        suite = context.suites.add(suite)
        batch = source.add_dataframe_asset(form).add_batch_definition_whole_dataframe("drop")
        definitions[form] = context.validation_definitions.add(gx.ValidationDefinition(name=form, data=batch, suite=suite))
    return definitions


def validate(typed: TypedForm, parameters: dict) -> list[Finding]:
    """Every failing row, field and rule of one form; empty when the form passes."""
    if not len(typed):
        return []
    definition = _validation_definitions()[typed.form.name]
    result = definition.run(
        batch_parameters={"dataframe": typed.frame()},
        expectation_parameters=parameters,
        result_format={"result_format": "COMPLETE"},
    )
    findings: list[Finding] = []
    for r in result.results:
        config = r.expectation_config
        if r.exception_info and r.exception_info.get("raised_exception"):
            raise RuntimeError(f"expectation {config.type} on {typed.form.name} raised: {r.exception_info.get('exception_message')}")
        if r.success:
            continue
        rule = config.meta["rule"]
        # a pair rule (new_this_year <= total) is about its second column, the one to fix
        field = config.kwargs.get("column") or config.kwargs.get("column_B") or "+".join(config.kwargs.get("column_list", []))
        rows = r.result.get("unexpected_index_list") or []
        values = r.result.get("unexpected_list") or [None] * len(rows)
        for row, value in zip(rows, values):
            row_number = row["row_number"] if isinstance(row, dict) else row
            findings.append(Finding(rule, typed.form.name, int(row_number), field, finding_value(value)))
    # A cell that failed to parse is reported once, as a type error, not again as missing.
    unreadable = {(f.row_number, f.field) for f in typed.findings}
    return [f for f in findings if (f.row_number, f.field) not in unreadable]


def finding_value(value) -> str | None:
    """A finding's value as GX's unexpected_list gives it: a pair joined, a whole float without '.0'."""
    if value is None or value != value:  # None or NaN
        return None
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, (tuple, list)):  # a pair: (total, new_this_year)
        return ", ".join(finding_value(v) or "" for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)[:200]
