"""Cells to typed columns: what the suites check, and the exact values COPY loads.

A cell that cannot be read as its field's type is a ``type`` finding, and is
null in its column so the other rules judge the rest of the row.

Typing is column by column. Each kind has a *plain lane*: a pattern for cells
already written canonically ('2026-09-03', '475.27', '150102'), cast in one
vectorised step (one polars query for all of a form's fields). The pattern only
admits cells the exact parser in ``halfsky.contract.cells`` would turn into the
same value; a workbook's numbers, TRUE/FALSE and dates that parser would take
unchanged are typed column-wise too (``_workbook_values``). Every other cell
(units, 万元, full-width digits, spaces, Excel serials, 10.005, a negative amount)
takes the *exact lane*: the same per-cell code as before, with the same findings.
A national month-end is mostly plain cells, so it costs a cast, not a call per cell.

A small form (up to ``SMALL_FORM_ROWS`` rows) takes the exact lane whole: for a handful of cells the
vectorised steps cost more than the cells themselves (a flood of one-row drops is then cheap to judge).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property, lru_cache

import polars as pl

from halfsky.contract import cells
from halfsky.ingest.reading.drop import FormTable
from halfsky.contract.forms import CODE, COUNT, DATE, FLAG, ID_NUMBER, MEASURE, MONEY, REGION, TEXT, UNIT_OF_INDICATOR, \
    UNIT_OF_POPULATION_GROUP, UNIT_OF_PROGRAM, Field, Form
from halfsky.contract.rules import Finding

_PARSERS = {
    REGION: cells.parse_region,
    CODE: cells.parse_code,
    COUNT: cells.parse_count,
    DATE: cells.parse_date,
    ID_NUMBER: cells.parse_id_number,
    TEXT: cells.normalise_text,
    FLAG: cells.parse_flag,
}
# Units that depend on the row (program, indicator, population group): checked by halfsky.ingest.judging.unit_rules.
_ROW_UNITS = {UNIT_OF_PROGRAM, UNIT_OF_INDICATOR, UNIT_OF_POPULATION_GROUP}

POLARS_TYPES = {
    REGION: pl.String, CODE: pl.String, TEXT: pl.String, ID_NUMBER: pl.String,
    COUNT: pl.Int64, MONEY: pl.Decimal(18, 2), MEASURE: pl.Decimal(20, 2), DATE: pl.Date, FLAG: pl.Boolean,
}

# Text that NFKC leaves alone and strip() would not shorten: printable ASCII, CJK unified ideographs and
# the few CJK marks names and remarks use. Full-width forms (，１２３) are not here: NFKC changes them.
TEXT_SAFE_CHARS = "\u0020-\u007e\u00b7\u3001\u3002\u300a\u300b\u3010\u3011\u4e00-\u9fff"
_TEXT_EDGE = "\u0021-\u007e\u00b7\u3001\u3002\u300a\u300b\u3010\u3011\u4e00-\u9fff"
# Patterns for plain cells, in Rust regex syntax ([0-9], never \d: that would admit other scripts' digits).
PLAIN_CELLS = {
    REGION: r"^[0-9]{6}$",
    CODE: r"^[A-Za-z0-9_]+$",
    ID_NUMBER: r"^[0-9A-Za-z]+$",
    TEXT: rf"^[{_TEXT_EDGE}](?:[{TEXT_SAFE_CHARS}]*[{_TEXT_EDGE}])?$",
    COUNT: r"^[0-9]{1,18}$",
    MONEY: r"^[0-9]{1,16}(?:\.[0-9]{1,2})?$",  # below 10^16, to the fen: what parse_money accepts unchanged
    DATE: r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}$",  # an impossible day (02-30) casts to null and takes the exact lane
    FLAG: r"^(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[Yy][Ee][Ss]|[Nn][Oo]|[YyNn01]|是|否)$",
}


# Up to this many rows, every cell takes the exact lane (same values and findings, fewer polars calls).
SMALL_FORM_ROWS = 100


@dataclass
class TypedForm:
    form: Form
    table: pl.DataFrame  # row_number, then one typed column per field in the form's order
    findings: list[Finding]
    # field -> unit written in each row's cell or column header, for fields whose unit the row decides
    written_units: dict[str, list[str | None]] = field(default_factory=dict)

    @cached_property
    def values(self) -> dict[str, list]:
        """field -> canonical values (Decimal, int, date, str, bool or None), in row order."""
        return {f.name: self.table[f.name].to_list() for f in self.form.fields}

    @cached_property
    def row_numbers(self) -> list[int]:
        return self.table["row_number"].to_list()

    def frame(self):
        """The GX view (a pandas frame): money as float (only compared with 0), everything else as read."""
        import pandas as pd  # only the GX engine needs pandas

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
        return self.table.height


def type_rows(table: FormTable, first_row_number: int) -> TypedForm:
    form = table.form
    present = {f.name: i for i, f in enumerate(table.fields) if f is not None}
    n = table.row_count
    findings: list[Finding] = []
    if n <= SMALL_FORM_ROWS:
        typed_columns = {f.name: _type_small_column(form, f, table.column(i), table.scales[i], table.units[i],
                                                    first_row_number, findings)
                         for f in form.fields if (i := present.get(f.name)) is not None}
    else:
        typed_columns = _type_columns(table, present, first_row_number, findings)
    columns = [pl.Series("row_number", range(first_row_number, first_row_number + n), dtype=pl.Int32)]
    written_units: dict[str, list[str | None]] = {}
    for f in form.fields:
        if f.name in typed_columns:
            column, units = typed_columns[f.name]
        else:
            header_unit = table.units[present[f.name]] if f.name in present else None
            column, units = pl.Series(f.name, [f.default] * n, dtype=POLARS_TYPES[f.kind]), [header_unit] * n
        columns.append(column)
        if f.unit in _ROW_UNITS:
            written_units[f.name] = units
    # The findings in the order a reader meets them: row by row, field by field.
    order = {f.name: k for k, f in enumerate(form.fields)}
    findings.sort(key=lambda x: (x.row_number, order[x.field]))
    return TypedForm(form, pl.DataFrame(columns), findings, written_units)


def _type_columns(table: FormTable, present: dict[str, int], first_row_number: int,
                  findings: list[Finding]) -> dict[str, tuple[pl.Series, list[str | None]]]:
    """Every present field's column of a form over SMALL_FORM_ROWS rows, and the unit written in each row.

    The plain lane of all the form's fields is one polars query (a call per step and column cost a national
    month-end of 1,000 small forms more than their cells); the cells it cannot take go to the exact lane."""
    form, n = table.form, table.row_count
    text_columns: dict[str, pl.Series] = {}
    others: dict[str, dict[int, object]] = {}  # a workbook's or a JSON's cells that are no text: numbers, dates, lists…
    plain_allowed: dict[str, bool] = {}
    for f in form.fields:
        i = present.get(f.name)
        if i is None:
            continue
        cells_in = table.column(i)
        if isinstance(cells_in, pl.Series):
            text_columns[f.name] = cells_in.rename(f.name)
        else:
            text_columns[f.name] = pl.Series(f.name, [c if type(c) is str else None for c in cells_in], dtype=pl.String)
            others[f.name] = {k: c for k, c in enumerate(cells_in) if c is not None and type(c) is not str}
        plain_allowed[f.name] = _plain_allowed(f, table.scales[i], table.units[i])
    if not text_columns:
        return {}
    fields = [form.field(name) for name in text_columns]
    marks, casts, picks = _plain_lane(tuple(fields), tuple(plain_allowed[f.name] for f in fields))
    done = pl.DataFrame(list(text_columns.values())).lazy().with_columns(marks).with_columns(casts).select(picks).collect()
    typed_columns = {}
    for f in fields:
        column, plain_cells, blank_cells = (done.get_column(f"{f.name}:{part}") for part in ("typed", "plain", "blank"))
        odd = others.get(f.name) or {}
        if odd:  # a no-text cell read as null above: never blank, and the workbook lane's or the exact lane's
            plain_cells, blank_cells = plain_cells.scatter(list(odd), False), blank_cells.scatter(list(odd), False)
            workbook = _workbook_values(f, odd) if plain_allowed[f.name] else None
            if workbook is not None:
                column, plain_cells = column.scatter(workbook[0], workbook[1]), plain_cells.scatter(workbook[0], True)
        i = present[f.name]
        units: list[str | None] = [table.units[i]] * n
        exact = [k for k, (p, b) in enumerate(zip(plain_cells.to_list(), blank_cells.to_list())) if not (p or b)]
        if exact:
            values = []
            for k in exact:
                raw = odd[k] if k in odd else text_columns[f.name][k]
                value, unit = _type_cell(form, f, raw, table.scales[i], table.units[i], first_row_number + k, findings)
                values.append(value)
                units[k] = unit
            column = column.scatter(exact, pl.Series(values, dtype=POLARS_TYPES[f.kind]))
        typed_columns[f.name] = (column.rename(f.name), units)
    return typed_columns


@lru_cache(maxsize=256)
def _plain_lane(fields: tuple[Field, ...], plain_allowed: tuple[bool, ...]) -> tuple[tuple[pl.Expr, ...], ...]:
    """The plain lane's query for these columns, in three steps: built once per form and column layout, not per
    form read (a national month-end's 1,000 forms spent half a second building the same expressions)."""
    def step(f: Field, part: str) -> pl.Expr:  # a step's column: "amount_yuan:plain", ":blank", ":typed"
        return pl.col(f"{f.name}:{part}")

    allowed = dict(zip(fields, plain_allowed))
    marks = ([(pl.col(f.name).str.contains(PLAIN_CELLS[f.kind]).fill_null(False) if allowed[f]
               else pl.lit(False)).alias(f"{f.name}:plain") for f in fields]
             + [(pl.col(f.name).is_null() | (pl.col(f.name) == "")).alias(f"{f.name}:blank") for f in fields])
    casts = [_cast_plain(f, pl.when(step(f, "plain")).then(pl.col(f.name))).alias(f"{f.name}:typed") for f in fields]
    picks = ([(step(f, "plain") & step(f, "typed").is_not_null()).alias(f"{f.name}:plain")  # 02-30: the exact lane's
              for f in fields]
             + [step(f, "blank") for f in fields]
             + [(pl.when(step(f, "blank")).then(pl.lit(f.default, dtype=POLARS_TYPES[f.kind])).otherwise(step(f, "typed"))
                 if f.default is not None else step(f, "typed")).alias(f"{f.name}:typed") for f in fields])
    return tuple(marks), tuple(casts), tuple(picks)  # shared by every caller: not to be changed


def _type_small_column(form: Form, f: Field, cells_in: pl.Series | list, scale: Decimal, header_unit: str | None,
                       first_row_number: int, findings: list[Finding]) -> tuple[pl.Series, list[str | None]]:
    """The exact lane for every cell: a blank (null or '') is the field's default, as in the plain lane."""
    values, units = [], []
    for k, raw in enumerate(cells_in.to_list() if isinstance(cells_in, pl.Series) else cells_in):
        if raw is None or raw == "":
            value, unit = f.default, header_unit
        else:
            value, unit = _type_cell(form, f, raw, scale, header_unit, first_row_number + k, findings)
        values.append(value)
        units.append(unit)
    return pl.Series(f.name, values, dtype=POLARS_TYPES[f.kind]), units


def _plain_allowed(f: Field, scale: Decimal, header_unit: str | None) -> bool:
    """Whether the plain lane may take any cell of the column: not under a 万元 header, not in a unit the field does
    not count (every non-blank cell is then a unit_mismatch, which the exact lane reports)."""
    if f.kind == MEASURE:
        return False
    if f.kind == MONEY and scale != 1:
        return False
    return not (f.kind in (MONEY, COUNT) and f.unit not in _ROW_UNITS and not cells.unit_agrees(header_unit, f.unit or "元"))


def _cast_plain(f: Field, kept: pl.Expr) -> pl.Expr:
    """The plain cells (``kept``: the others null) cast to the field's type."""
    if f.kind in (REGION, TEXT):
        return kept
    if f.kind in (CODE, ID_NUMBER):
        return kept.str.to_uppercase()
    if f.kind == COUNT:
        return kept.cast(pl.Int64)
    if f.kind == MONEY:
        return kept.cast(POLARS_TYPES[MONEY])
    if f.kind == DATE:
        return kept.str.to_date("%Y-%m-%d", strict=False)
    if f.kind == FLAG:
        return kept.str.to_lowercase().replace_strict(cells.FLAG_WORDS, default=None, return_dtype=pl.Boolean)
    if f.kind == MEASURE:
        return kept.cast(POLARS_TYPES[MEASURE])
    raise ValueError(f.kind)


# Below this a float tells every amount to the fen apart (its spacing there is 1.2e-4 yuan), so an amount whose
# cents divided by 100 give the float back is the one amount its shortest repr, and so the exact lane, reads.
_EXACT_CENTS_BELOW = 1e12
_EXACT_INTEGERS_UP_TO = float(2**53)


def _workbook_values(f: Field, others: dict[int, object]) -> tuple[list[int], pl.Series] | None:
    """The workbook's numbers (calamine's floats) in a money or count column, its TRUE/FALSE in a flag column and
    its dates in a date column, typed column-wise: (row indexes, values).

    Only a number the exact lane would take unchanged: an amount of at most two decimals, not negative and below a
    trillion yuan; a whole, non-negative count below 2^53. Any other number (a negative, 10.005, 1e20, NaN) is left
    to the exact lane, which reports it. Called only where the plain lane may take the column (its header in yuan,
    or the field's unit), so the cell's unit agrees as the exact lane would find. 200k amounts: 0.5 s -> 0.03 s."""
    if f.kind not in (MONEY, COUNT, FLAG, DATE) or not others:
        return None
    if f.kind == DATE:  # a date cell, or a date and time (the exact lane keeps the day, as here)
        days = {k: c.date() if isinstance(c, datetime) else c for k, c in others.items() if isinstance(c, date)}
        return (list(days), pl.Series(list(days.values()), dtype=pl.Date)) if days else None
    if f.kind == FLAG:
        keys = [k for k, c in others.items() if type(c) is bool]
        return (keys, pl.Series([others[k] for k in keys], dtype=pl.Boolean)) if keys else None
    keys = [k for k, c in others.items() if type(c) is float]
    if not keys:
        return None
    x = pl.Series([others[k] for k in keys], dtype=pl.Float64)
    if f.kind == MONEY:
        import numpy as np

        # numpy, not polars, for the division: polars divides by 100 as a multiplication by 0.01, which is not
        # IEEE division (47 * 0.01 is 0.47000000000000003), and would let 0.35000000000000003 pass as 0.35.
        values_np = x.to_numpy()
        with np.errstate(invalid="ignore", over="ignore"):
            cents_np = np.round(values_np * 100)
            fits_np = np.isfinite(values_np) & (values_np >= 0) & (values_np < _EXACT_CENTS_BELOW) & (cents_np / 100 == values_np)
        fits = pl.Series(fits_np)
        cents = pl.Series(np.where(fits_np, cents_np, 0).astype(np.int64))
        digits = cents.cast(pl.String).str.zfill(3)
        values = (digits.str.head(-2) + "." + digits.str.tail(2)).cast(POLARS_TYPES[MONEY])
    else:
        fits = (x.is_finite() & (x >= 0) & (x <= _EXACT_INTEGERS_UP_TO) & (x == x.floor())).fill_null(False)
        values = pl.select(pl.when(fits).then(x)).to_series().cast(pl.Int64)
    chosen = fits.arg_true()
    if chosen.is_empty():
        return None
    return pl.Series(keys).gather(chosen).to_list(), values.gather(chosen)


def _type_cell(form: Form, f: Field, raw, scale: Decimal, header_unit: str | None, number: int,
               findings: list[Finding]) -> tuple[object, str | None]:
    """The exact lane: one cell as halfsky.contract.cells reads it; (value, unit written), a finding when it cannot be read."""
    row_unit = f.unit in _ROW_UNITS
    if isinstance(raw, str) and "\x00" in raw:  # Postgres text cannot hold it, whatever the field
        findings.append(Finding("nul_byte", form.name, number, f.name, raw[:200]))
        return None, header_unit
    if isinstance(raw, (dict, list)):  # JSON: a cell is a value, not a list or an object
        findings.append(Finding("type", form.name, number, f.name, str(raw)[:200], "a list or object, not a value"))
        return None, header_unit
    if cells.is_blank(raw):
        return f.default, header_unit
    try:
        value, unit = _parse(f, raw, scale, header_unit)
    except cells.CellError as exc:
        findings.append(Finding(exc.rule, form.name, number, f.name, cells.normalise_text(raw)[:200], str(exc)))
        return None, None
    if row_unit:
        return value, unit
    if not cells.unit_agrees(unit, f.unit or ("元" if f.kind == MONEY else None)):
        findings.append(Finding("unit_mismatch", form.name, number, f.name, cells.normalise_text(raw)[:200],
                                f"written in {unit}, but this field counts {f.unit or '元'}"))
        return None, unit
    return value, unit


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


def text_lane_is_exact() -> bool:
    """Every character the plain text lane admits is one NFKC keeps as it is (checked by the tests)."""
    import re

    ranges = re.findall(r"(.)(?:-(.))?", TEXT_SAFE_CHARS)
    return all(unicodedata.normalize("NFKC", chr(c)) == chr(c)
               for lo, hi in ranges for c in range(ord(lo), ord(hi or lo) + 1))
