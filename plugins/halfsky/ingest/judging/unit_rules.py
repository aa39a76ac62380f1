"""Units that depend on the row (contract v2): a quantity is in its program's quantity_unit, a target in its
indicator's unit, a population in persons or households. A unit written in a cell or header that says
otherwise is an error, not a silent conversion: '120户' is never 120 parcels."""

from __future__ import annotations

from halfsky.contract.cells import unit_agrees
from halfsky.contract.forms import UNIT_OF_INDICATOR, UNIT_OF_POPULATION_GROUP, UNIT_OF_PROGRAM
from halfsky.contract.reference.code_lists import ReferenceData
from halfsky.contract.rules import Finding
from halfsky.ingest.judging.row_typing import TypedForm

QUANTITY_INDICATOR_UNIT = "program quantity_unit"  # how indicators.csv says "in the program's own unit"


def _field_unit(kind: str, row: dict, ref: ReferenceData) -> tuple[bool, str | None]:
    """(whether the row may have a value here, the unit it must be in); unit None = not known (another rule says why)."""
    if kind == UNIT_OF_PROGRAM:
        program = ref.programs.get(row.get("program_code") or "")
        return (program is None or program.quantity_unit is not None), program.quantity_unit if program else None
    if kind == UNIT_OF_INDICATOR:
        unit = ref.indicator_units.get(row.get("indicator_code") or "")
        if unit == QUANTITY_INDICATOR_UNIT:
            return _field_unit(UNIT_OF_PROGRAM, row, ref)
        return True, unit
    if kind == UNIT_OF_POPULATION_GROUP:
        group = row.get("population_group_code")
        return True, ref.population_unit(group) if group else None
    raise ValueError(kind)


def row_unit_findings(typed: TypedForm, ref: ReferenceData) -> list[Finding]:
    findings = []
    for name, written in typed.written_units.items():
        kind = typed.form.field(name).unit
        values = typed.values[name]
        for i, number in enumerate(typed.row_numbers):
            if values[i] is None:
                continue
            row = {key: typed.values[key][i] for key in ("program_code", "indicator_code", "population_group_code")
                   if key in typed.values}
            allowed, unit = _field_unit(kind, row, ref)
            if not allowed:
                findings.append(Finding("quantity_without_unit", typed.form.name, number, name, str(values[i]),
                                        f"{row.get('program_code')} has no quantity unit in programs.csv"))
            elif not unit_agrees(written[i], unit):
                findings.append(Finding("unit_mismatch", typed.form.name, number, name, f"{values[i]} {written[i]}",
                                        f"written in {written[i]}, but this row counts {unit}"))
    return findings
