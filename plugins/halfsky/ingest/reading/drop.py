"""A drop as read, and what every format's reader shares.

``ParsedDrop`` holds each form's ``FormTable`` (header matched to the form's fields, cells column by column) and
the warnings of what was ignored; ``DropRejected`` is every file-level refusal, with its rule id. The readers of
each format (``csv_folder``, ``xlsx``, ``json_drop``) build them with the pieces here: a sheet, file or key named
as a form, a header matched to the form's fields (a required column missing is a rejection), the width limit,
trailing blank rows, and the size limit a drop is held to. ``drop_reader.read_drop`` picks the reader.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal

from halfsky.contract.cells import normalise_header, normalise_text
from halfsky.contract.forms import FORMS, Field, Form
from halfsky.contract.rules import Finding

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
# A form has at most ten fields; a sheet, csv or JSON form with more columns than this is not a form
# (and a million of them would take minutes to name in warnings).
MAX_COLUMNS = 1000


def max_drop_bytes() -> int:
    return int(os.environ.get("HALFSKY_MAX_DROP_BYTES", DEFAULT_MAX_BYTES))


class DropRejected(Exception):
    def __init__(self, rule: str, detail: str, form: str | None = None, field: str | None = None):
        super().__init__(f"{rule}: {detail}")
        self.rule, self.detail, self.form, self.field = rule, detail, form, field


@dataclass
class FormTable:
    form: Form
    fields: list[Field | None]  # per column; None for a column we do not know
    scales: list[Decimal]  # per column: 10000 when the header says 万元
    units: list[str | None]  # per column: the unit its header names, e.g. 户 in '受益人次(户)'
    # per column, the cells under its header: text from a csv (a polars String series), or as read from a
    # workbook or JSON (str, int, float, date, Decimal, list, dict or None)
    columns: list
    row_count: int

    def column(self, i: int):
        return self.columns[i]

    @property
    def rows(self) -> list[list]:
        """Row by row (for tests and tools; the pipeline reads columns)."""
        lists = [c.to_list() if hasattr(c, "to_list") else c for c in self.columns]
        return [list(r) for r in zip(*lists)] if lists else [[] for _ in range(self.row_count)]


@dataclass
class ParsedDrop:
    format: str
    forms: dict[str, FormTable]
    manifest: dict = field(default_factory=dict)
    warnings: list[Finding] = field(default_factory=list)  # unknown columns, sheets and files: ignored, but named

    def add_form(self, source: str, table: FormTable) -> None:
        if table.form.name in self.forms:
            raise DropRejected("duplicate_form", f"{source} is a second {table.form.name} ({table.form.zh})", form=table.form.name)
        self.forms[table.form.name] = table


def header_lookup(form: Form) -> dict[str, Field]:
    lookup = {}
    for f in form.fields:
        lookup[f.name.lower()] = f
        lookup[normalise_header(f.zh)[0]] = f
    return lookup


_FORM_NAMES = {name: form for form in FORMS.values() for name in form.sheet_names}


def form_named(name: object) -> Form | None:
    """The form a sheet, file stem or JSON key names: 'funds', 'Funds', ' 资金收支 '."""
    text = normalise_text(name)
    return _FORM_NAMES.get(text) or _FORM_NAMES.get(text.lower())


def _header(form: Form, header: list, parsed: ParsedDrop) -> tuple[list, list, list]:
    """Each column's field (None if unknown), money scale and unit; rejects a drop missing a required column."""
    check_width(form, header)
    lookup = header_lookup(form)
    fields, scales, units, seen = [], [], [], set()
    for h in header:
        key, scale, unit = normalise_header(h)
        f = lookup.get(key)
        if f is None or f.name in seen:
            if normalise_text(h):
                parsed.warnings.append(Finding("unknown_column", form.name, field=normalise_text(h)))
            f = None
        else:
            seen.add(f.name)
        fields.append(f)
        scales.append(scale)
        units.append(unit)
    missing = [f for f in form.fields if f.required and f.name not in seen]
    # amount_yuan of beneficiaries is required only for CASH rows; the column itself must exist.
    if form.name == "beneficiaries" and "amount_yuan" not in seen:
        missing.append(form.field("amount_yuan"))
    if missing:
        names = ", ".join(f"{f.name} ({f.zh})" for f in missing)
        raise DropRejected("missing_column", f"{form.name}: missing {names}", form=form.name, field=missing[0].name)
    return fields, scales, units


def check_width(form: Form, header: list, source: str | None = None) -> None:
    """A form's columns, up to its last named one, are at most MAX_COLUMNS."""
    width = len(header)
    if width > MAX_COLUMNS:
        width = next((i + 1 for i in range(len(header) - 1, -1, -1) if normalise_text(header[i]) != ""), 0)
    if width > MAX_COLUMNS:
        raise DropRejected("too_many_columns", f"{source or form.name}: {width:,} columns, a form has at most {MAX_COLUMNS:,}",
                           form=form.name)


def is_blank_row(cells) -> bool:
    return all(normalise_text(c) == "" for c in cells)


def form_table(form: Form, header: list, rows: list[list], parsed: ParsedDrop) -> FormTable:
    fields, scales, units = _header(form, header, parsed)
    # Leave out trailing blank rows spreadsheets often carry.
    end = len(rows)
    while end and is_blank_row(rows[end - 1]):
        end -= 1
    width = len(header)
    if end and all(len(r) >= width for r in (rows[0], rows[end - 1])) and all(len(r) == len(rows[0]) for r in rows[:end]):
        # A grid (a workbook's sheet): zip transposes it in C, several times faster than cell by cell.
        columns = [list(column) for column in zip(*rows[:end])][:width]
    else:
        columns = [[r[i] if i < len(r) else None for r in rows[:end]] for i in range(width)]
    return FormTable(form, fields, scales, units, columns, end)


def form_table_from_frame(form: Form, frame, parsed: ParsedDrop) -> FormTable:
    """A csv read by polars: row 0 is the header, every cell text (or null where the line ran short)."""
    fields, scales, units = _header(form, list(frame.row(0)), parsed)
    n = frame.height - 1
    while n and is_blank_row(frame.row(n)):
        n -= 1
    return FormTable(form, fields, scales, units, [frame.to_series(i).slice(1, n) for i in range(frame.width)], n)


def misnamed_form(what: str, what_zh: str, form: Form, proper: str) -> DropRejected:
    return DropRejected("misnamed_form", f"{what_zh} 像是报表 {form.zh}（{form.name}），但名称不符：请改为 {proper}（或 {form.zh}）或删除 / "
                                         f"{what} looks like the form {form.name} ({form.zh}) but is not named so: make it "
                                         f"{proper} (or {form.zh}), or remove it", form=form.name)


def empty_form(what: str, what_zh: str, form: Form) -> DropRejected:
    return DropRejected("empty_form", f"{what_zh}（{form.zh}）是空的，没有表头行：本期如无此报表请删除它，否则请填写 / "
                                      f"{what} ({form.name}) is empty, without even a header row: remove it if the form has "
                                      "nothing this period, or fill it in", form=form.name)
