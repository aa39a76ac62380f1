"""Cells to typed rows: the frame Great Expectations checks, and the exact values COPY loads.

A cell that cannot be read as its field's type is a ``type`` finding, and is
null in the frame so the other rules judge the rest of the row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from halfsky import cells
from halfsky.drop_reader import FormTable
from halfsky.forms import CODE, COUNT, DATE, FLAG, ID_NUMBER, MEASURE, MONEY, REGION, TEXT, UNIT_OF_INDICATOR, \
    UNIT_OF_POPULATION_GROUP, UNIT_OF_PROGRAM, Form
from halfsky.rules import Finding

_PARSERS = {
    REGION: cells.parse_region,
    CODE: cells.parse_code,
    COUNT: cells.parse_count,
    DATE: cells.parse_date,
    ID_NUMBER: cells.parse_id_number,
    TEXT: cells.normalise_text,
    FLAG: cells.parse_flag,
}
# Units that depend on the row (program, indicator, population group): checked by halfsky.unit_rules.
_ROW_UNITS = {UNIT_OF_PROGRAM, UNIT_OF_INDICATOR, UNIT_OF_POPULATION_GROUP}


@dataclass
class TypedForm:
    form: Form
    row_numbers: list[int]
    values: dict[str, list]  # field -> canonical values (Decimal, int, date, str, bool or None), in row order
    findings: list[Finding]
    # field -> unit written in each row's cell or column header, for fields whose unit the row decides
    written_units: dict[str, list[str | None]] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        """The GX view: money as float (only compared with 0), everything else as read."""
        data = {}
        for f in self.form.fields:
            column = self.values[f.name]
            if f.kind in (MONEY, COUNT, MEASURE):
                data[f.name] = pd.Series([float(v) if v is not None else None for v in column], dtype="float64")
            else:
                data[f.name] = pd.Series(column, dtype="object")
        frame = pd.DataFrame(data)
        frame.index = pd.Index(self.row_numbers, name="row_number")
        return frame

    def load_rows(self):
        """(row_number, *fields) tuples in the raw table's column order."""
        columns = [self.values[f.name] for f in self.form.fields]
        return zip(self.row_numbers, *columns)

    def __len__(self) -> int:
        return len(self.row_numbers)


def type_rows(table: FormTable, first_row_number: int) -> TypedForm:
    form = table.form
    values: dict[str, list] = {f.name: [] for f in form.fields}
    written_units: dict[str, list[str | None]] = {f.name: [] for f in form.fields if f.unit in _ROW_UNITS}
    present = {f.name: i for i, f in enumerate(table.fields) if f is not None}
    findings: list[Finding] = []
    row_numbers = []
    for offset, row in enumerate(table.rows):
        number = first_row_number + offset
        row_numbers.append(number)
        for f in form.fields:
            i = present.get(f.name)
            raw = row[i] if i is not None and i < len(row) else None
            header_unit = table.units[i] if i is not None else None
            if f.name in written_units:
                written_units[f.name].append(header_unit)
            if isinstance(raw, str) and "\x00" in raw:  # Postgres text cannot hold it, whatever the field
                findings.append(Finding("nul_byte", form.name, number, f.name, raw[:200]))
                values[f.name].append(None)
                continue
            if isinstance(raw, (dict, list)):  # JSON: a cell is a value, not a list or an object
                findings.append(Finding("type", form.name, number, f.name, str(raw)[:200], "a list or object, not a value"))
                values[f.name].append(None)
                continue
            if cells.is_blank(raw):
                values[f.name].append(f.default)
                continue
            try:
                value, unit = _parse(f, raw, table.scales[i], header_unit)
            except cells.CellError as exc:
                findings.append(Finding(exc.rule, form.name, number, f.name, cells.normalise_text(raw)[:200], str(exc)))
                value, unit = None, None
            if f.name in written_units:
                written_units[f.name][-1] = unit
            elif not cells.unit_agrees(unit, f.unit or ("元" if f.kind == MONEY else None)):
                findings.append(Finding("unit_mismatch", form.name, number, f.name, cells.normalise_text(raw)[:200],
                                        f"written in {unit}, but this field counts {f.unit or '元'}"))
                value = None
            values[f.name].append(value)
    return TypedForm(form, row_numbers, values, findings, written_units)


def _parse(f, raw, header_scale, header_unit: str | None) -> tuple[object, str | None]:
    """The canonical value and the unit the cell (or else its header) was written in."""
    if f.kind == MONEY:
        return cells.parse_money(raw, header_scale), header_unit
    if f.kind == MEASURE:
        value, unit = cells.parse_measure(raw, header_scale)
        return value, unit or header_unit
    if f.kind == COUNT:
        value, unit = cells.parse_count_with_unit(raw)
        if unit and header_unit and not cells.unit_agrees(unit, header_unit):
            raise cells.CellError(f"the cell says {unit} but its column says {header_unit}", rule="unit_mismatch")
        return value, unit or header_unit
    return _PARSERS[f.kind](raw), None

