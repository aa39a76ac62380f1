"""Reading a drop that is a folder of csv files, one per form named after it (``activity.csv``, ``资金收支.csv``).

polars reads well-formed UTF-8 csv into columns in one pass; anything else (GB18030, old-Mac line breaks, quoting
polars will not take) goes through Python's csv module with its errors. A ``manifest.json`` beside the forms is
read as the drop's manifest; operating-system litter and unknown files are ignored but named, and a file that
looks like a form but is not named as one is refused.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from halfsky.contract.forms import Form
from halfsky.contract.rules import Finding
from halfsky.ingest.reading.drop import (
    MAX_COLUMNS, DropRejected, FormTable, ParsedDrop, check_width, empty_form, form_named, form_table, form_table_from_frame,
    is_blank_row, misnamed_form,
)
from halfsky.ingest.reading.json_drop import parse_json
from halfsky.ingest.reading.near_form_names import form_resembled_by
from halfsky.ingest.reading.os_litter import is_os_litter
from halfsky.ingest.reading.text_decoding import decode_text

_LONE_CR = re.compile(rb"\r(?!\n)")  # an old-Mac line break: polars would not split on it, the csv module does


def _read_csv_table(entry: Path, form: Form, parsed: ParsedDrop) -> FormTable | None:
    """One form's csv, column by column; None when the file is empty (or blank lines only).

    polars reads well-formed UTF-8 csv into columns in one pass. Anything else (GB18030, a lone CR
    line break, quotes polars will not take) is read by Python's csv module, as before, with its errors."""
    import polars as pl

    data = entry.read_bytes()
    payload = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    _check_csv_header_width(payload, entry.name, form)
    if payload and not _LONE_CR.search(data):
        try:
            frame = pl.read_csv(io.BytesIO(payload), has_header=False, infer_schema=False, truncate_ragged_lines=True)
        except Exception:  # noqa: BLE001  any doubt: the csv module decides, with the errors it always gave
            frame = None
        if frame is not None and frame.height:
            if all(is_blank_row(frame.row(i)) for i in range(frame.height)):  # blank lines only: no header row
                return None
            longest = max((frame.to_series(i).str.len_chars().max() or 0) for i in range(frame.width))
            if longest > csv.field_size_limit():
                raise DropRejected("cell_too_large", f"{entry.name}: a cell is longer than {csv.field_size_limit():,} characters",
                                   form=form.name)
            return form_table_from_frame(form, frame, parsed)
    try:
        table = list(csv.reader(io.StringIO(decode_text(data, entry.name), newline="")))
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise DropRejected("cell_too_large", f"{entry.name}: a cell is longer than {csv.field_size_limit():,} characters",
                               form=form.name) from exc
        raise DropRejected("unreadable", f"{entry.name} is not valid CSV: {exc}", form=form.name) from exc
    if all(is_blank_row(row) for row in table):  # nothing, or blank lines only: no header row
        return None
    return form_table(form, table[0], table[1:], parsed)


def _check_csv_header_width(payload: bytes, name: str, form: Form) -> None:
    """Too many columns is rejected before the csv is parsed: a million of them would take minutes."""
    end = payload.find(b"\n")
    first = payload if end < 0 else payload[:end]
    if first.count(b",") < MAX_COLUMNS:
        return
    try:
        header = next(csv.reader([first.decode("utf-8", "replace").rstrip("\r")]))
    except csv.Error:
        return  # the parse below says what is wrong with it
    check_width(form, header, name)


def read_csv_folder(path: Path) -> ParsedDrop:
    parsed = ParsedDrop("csv", {})
    for entry in sorted(path.iterdir()):
        if entry.name == "manifest.json":
            parsed.manifest = parse_json(decode_text(entry.read_bytes(), entry.name), entry.name)
            continue
        if is_os_litter(entry.name):
            parsed.warnings.append(Finding("system_file", value=entry.name))
            continue
        if entry.is_dir() or entry.suffix.lower() != ".csv":
            if entry.is_file() and (resembled := form_named(entry.stem) or form_resembled_by(entry.stem)):
                raise misnamed_form(f"file {entry.name}", f"文件 {entry.name}", resembled, f"{resembled.name}.csv")
            parsed.warnings.append(Finding("unknown_file", value=entry.name))
            continue
        form = form_named(entry.stem)
        if form is None:
            if resembled := form_resembled_by(entry.stem):
                raise misnamed_form(f"file {entry.name}", f"文件 {entry.name}", resembled, f"{resembled.name}.csv")
            raise DropRejected("unknown_form", f"{entry.name} is not a form: name it after one, e.g. activity.csv, funds.csv, "
                                               "beneficiaries.csv, targets.csv, population.csv, sites.csv, grassroots.csv (or 项目活动.csv …)")
        table = _read_csv_table(entry, form, parsed)
        if table is None:
            raise empty_form(f"file {entry.name}", f"文件 {entry.name}", form)
        parsed.add_form(entry.name, table)
    return parsed
