"""Open a drop (xlsx, json, or a folder of csv) and hand back each form's header and cells.

File-level problems (unreadable, undecodable, unknown format, too large, zip
bomb, missing required column, prefecture/period inside the file differing
from the path) raise DropRejected with the rule id; nothing is half read.
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from halfsky.cells import normalise_header, normalise_text
from halfsky.forms import FORMS, Field, Form

DEFAULT_MAX_BYTES = 200 * 1024 * 1024


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
    rows: list[list]  # cells as read: str, int, float, date, Decimal or None


@dataclass
class ParsedDrop:
    format: str
    forms: dict[str, FormTable]
    manifest: dict = field(default_factory=dict)
    unknown_columns: list[tuple[str, str]] = field(default_factory=list)  # (form, header)


def _header_lookup(form: Form) -> dict[str, Field]:
    lookup = {}
    for f in form.fields:
        lookup[f.name.lower()] = f
        lookup[normalise_header(f.zh)[0]] = f
    return lookup


_FORM_NAMES = {name: form for form in FORMS.values() for name in form.sheet_names}


def drop_format(path: Path) -> str | None:
    if path.is_dir():
        return "csv"
    return {".xlsx": "xlsx", ".json": "json"}.get(path.suffix.lower())


def drop_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def read_drop(path: Path, prefecture_code: str | None = None, period: str | None = None) -> ParsedDrop:
    fmt = drop_format(path)
    if fmt is None:
        raise DropRejected("unknown_format", f"{path.name}: expected .xlsx, .json or a folder of .csv files")
    size, limit = drop_size(path), max_drop_bytes()
    if size > limit:
        raise DropRejected("too_large", f"{size:,} bytes is over the limit of {limit:,}")
    reader = {"csv": _read_csv_folder, "xlsx": _read_xlsx, "json": _read_json}[fmt]
    parsed = reader(path, prefecture_code, period) if fmt == "json" else reader(path)
    if not parsed.forms:
        raise DropRejected("no_forms", "none of activity/项目活动, funds/资金收支, beneficiaries/受益人明细 was found")
    return parsed


def _table(form: Form, header: list, rows: list[list], parsed: ParsedDrop) -> FormTable:
    lookup = _header_lookup(form)
    fields, scales, seen = [], [], set()
    for h in header:
        key, scale = normalise_header(h)
        f = lookup.get(key)
        if f is None or f.name in seen:
            if normalise_text(h):
                parsed.unknown_columns.append((form.name, normalise_text(h)))
            f = None
        else:
            seen.add(f.name)
        fields.append(f)
        scales.append(scale)
    missing = [f for f in form.fields if f.required and f.name not in seen]
    # amount_yuan of beneficiaries is required only for CASH rows; the column itself must exist.
    if form.name == "beneficiaries" and "amount_yuan" not in seen:
        missing.append(form.field("amount_yuan"))
    if missing:
        names = ", ".join(f"{f.name} ({f.zh})" for f in missing)
        raise DropRejected("missing_column", f"{form.name}: missing {names}", form=form.name, field=missing[0].name)
    # Drop trailing blank rows spreadsheets often carry.
    while rows and all(normalise_text(c) == "" for c in rows[-1]):
        rows.pop()
    return FormTable(form, fields, scales, rows)


def _decode(data: bytes, name: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DropRejected("undecodable", f"{name} is neither UTF-8 nor GB18030")


def _read_csv_folder(path: Path) -> ParsedDrop:
    parsed = ParsedDrop("csv", {})
    for form in FORMS.values():
        file = path / f"{form.name}.csv"
        if not file.exists():
            continue
        text = _decode(file.read_bytes(), file.name)
        table = list(csv.reader(io.StringIO(text, newline="")))
        if not table:
            continue
        parsed.forms[form.name] = _table(form, table[0], table[1:], parsed)
    manifest = path / "manifest.json"
    if manifest.exists():
        try:
            parsed.manifest = json.loads(_decode(manifest.read_bytes(), manifest.name))
        except json.JSONDecodeError as exc:
            raise DropRejected("unreadable", f"manifest.json is not JSON: {exc}") from exc
    return parsed


def _read_xlsx(path: Path) -> ParsedDrop:
    from python_calamine import CalamineWorkbook

    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise DropRejected("unreadable", f"{path.name} is not a valid xlsx workbook") from exc
    limit = max_drop_bytes()
    if expanded > limit:
        raise DropRejected("expands_too_large", f"{path.name} expands to {expanded:,} bytes, over the limit of {limit:,}")
    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for every kind of damage
        raise DropRejected("unreadable", f"{path.name} cannot be opened: {exc}") from exc
    parsed = ParsedDrop("xlsx", {})
    for sheet_name in book.sheet_names:
        form = _FORM_NAMES.get(normalise_text(sheet_name)) or _FORM_NAMES.get(normalise_text(sheet_name).lower())
        if form is None or form.name in parsed.forms:
            continue
        rows = book.get_sheet_by_name(sheet_name).to_python(skip_empty_area=False)
        if not rows:
            continue
        parsed.forms[form.name] = _table(form, rows[0], [list(r) for r in rows[1:]], parsed)
    return parsed


def _read_json(path: Path, prefecture_code: str | None, period: str | None) -> ParsedDrop:
    try:
        doc = json.loads(_decode(path.read_bytes(), path.name), parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise DropRejected("unreadable", f"{path.name} is not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("forms"), dict):
        raise DropRejected("unreadable", f'{path.name} has no "forms" object')
    for key, expected in (("prefecture_code", prefecture_code), ("period", period)):
        inside = normalise_text(doc.get(key))
        if expected is not None and inside and inside != expected:
            raise DropRejected("header_mismatch", f'"{key}" is {inside} in the file but {expected} in its path')
    parsed = ParsedDrop("json", {})
    for name, rows in doc["forms"].items():
        form = _FORM_NAMES.get(normalise_text(name))
        if form is None or not isinstance(rows, list):
            continue
        if not all(isinstance(r, dict) for r in rows):
            raise DropRejected("unreadable", f"{form.name}: every row must be an object")
        header = list(dict.fromkeys(k for r in rows for k in r))
        if not header:
            header = [f.name for f in form.fields]  # an empty list is an empty form, not a missing column
        parsed.forms[form.name] = _table(form, header, [[r.get(k) for k in header] for r in rows], parsed)
    return parsed
