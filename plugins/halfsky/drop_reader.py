"""Open a drop (xlsx, json, or a folder of csv) and hand back each form's header and cells.

File-level problems (unreadable, undecodable, unknown format, too large, zip
bomb, hostile XML, a link or device instead of a file, missing required column,
a form given twice or not a form at all, prefecture/period inside the file
differing from the path) raise DropRejected with the rule id; nothing is half read.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from halfsky.cells import normalise_header, normalise_text
from halfsky.forms import FORMS, Field, Form
from halfsky.rules import Finding
from halfsky.untrusted_text import is_printable_name, printable_name

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
CHUNK = 1 << 20
MAX_DTD_BYTES = 1 << 20  # a DTD is read only to tell its kind


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


def _header_lookup(form: Form) -> dict[str, Field]:
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


def drop_format(path: Path) -> str | None:
    if path.is_dir():
        return "csv"
    return {".xlsx": "xlsx", ".json": "json"}.get(path.suffix.lower())


def entry_problem(path: Path) -> DropRejected | None:
    """Why a drop must not be read at all: a link, device or pipe (in a folder drop too), or a name
    that is not text. Looked at with lstat only, so a link to /dev/zero or /etc is never opened."""
    try:
        mode = path.lstat().st_mode
    except OSError as exc:
        return DropRejected("unreadable", f"{printable_name(path.name)}: {exc.strerror}")
    if stat.S_ISLNK(mode):
        return DropRejected("not_a_regular_file", f"{printable_name(path.name)} is a link to {printable_name(os.readlink(path))}")
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return DropRejected("not_a_regular_file", f"{printable_name(path.name)} is a device, pipe or socket")
    if not is_printable_name(path.name):
        return DropRejected("unsafe_name", f"{printable_name(path.name)}: rename it with plain UTF-8 characters")
    if stat.S_ISDIR(mode):  # the whole folder, as the landing listing sees it (os.walk never follows a link)
        for folder, dirs, files in os.walk(path):
            for name in sorted(dirs + files):
                entry = Path(folder, name)
                entry_mode = entry.lstat().st_mode
                if stat.S_ISLNK(entry_mode) or not (stat.S_ISREG(entry_mode) or stat.S_ISDIR(entry_mode)):
                    return entry_problem(entry)
    return None


def drop_size(path: Path) -> int:
    """Bytes of the drop's regular files, in every subfolder (links are never followed)."""
    if path.is_dir():
        return sum(Path(folder, name).lstat().st_size for folder, _, files in os.walk(path) for name in files)
    return path.lstat().st_size


def read_drop(path: Path, prefecture_code: str | None = None, period: str | None = None) -> ParsedDrop:
    problem = entry_problem(path)
    if problem:
        raise problem
    fmt = drop_format(path)
    if fmt is None:
        raise DropRejected("unknown_format", f"{path.name}: expected .xlsx, .json or a folder of .csv files")
    size, limit = drop_size(path), max_drop_bytes()
    if size > limit:
        raise DropRejected("too_large", f"{size:,} bytes is over the limit of {limit:,}")
    reader = {"csv": _read_csv_folder, "xlsx": _read_xlsx, "json": _read_json}[fmt]
    parsed = reader(path, prefecture_code, period) if fmt == "json" else reader(path)
    if not parsed.forms:
        raise DropRejected("no_forms", "no form was found: monthly activity/项目活动, funds/资金收支, beneficiaries/受益人明细; "
                                       "annual targets/年度任务, population/人口基数, sites/阵地组织")
    return parsed


def _header(form: Form, header: list, parsed: ParsedDrop) -> tuple[list, list, list]:
    """Each column's field (None if unknown), money scale and unit; rejects a drop missing a required column."""
    lookup = _header_lookup(form)
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


def _is_blank_row(cells) -> bool:
    return all(normalise_text(c) == "" for c in cells)


def _table(form: Form, header: list, rows: list[list], parsed: ParsedDrop) -> FormTable:
    fields, scales, units = _header(form, header, parsed)
    # Drop trailing blank rows spreadsheets often carry.
    while rows and _is_blank_row(rows[-1]):
        rows.pop()
    width = len(header)
    columns = [[r[i] if i < len(r) else None for r in rows] for i in range(width)]
    return FormTable(form, fields, scales, units, columns, len(rows))


def _table_from_frame(form: Form, frame, parsed: ParsedDrop) -> FormTable:
    """A csv read by polars: row 0 is the header, every cell text (or null where the line ran short)."""
    fields, scales, units = _header(form, list(frame.row(0)), parsed)
    n = frame.height - 1
    while n and _is_blank_row(frame.row(n)):
        n -= 1
    return FormTable(form, fields, scales, units, [frame.to_series(i).slice(1, n) for i in range(frame.width)], n)


def _decode(data: bytes, name: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DropRejected("undecodable", f"{name} is neither UTF-8 nor GB18030")


_LONE_CR = re.compile(rb"\r(?!\n)")  # an old-Mac line break: polars would not split on it, the csv module does


def _read_csv_table(entry: Path, form: Form, parsed: ParsedDrop) -> FormTable | None:
    """One form's csv, column by column; None when the file is empty.

    polars reads well-formed UTF-8 csv into columns in one pass. Anything else (GB18030, a lone CR
    line break, quotes polars will not take) is read by Python's csv module, as before, with its errors."""
    import polars as pl

    data = entry.read_bytes()
    payload = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    if payload and not _LONE_CR.search(data):
        try:
            frame = pl.read_csv(io.BytesIO(payload), has_header=False, infer_schema=False, truncate_ragged_lines=True)
        except Exception:  # noqa: BLE001  any doubt: the csv module decides, with the errors it always gave
            frame = None
        if frame is not None and frame.height:
            longest = max((frame.to_series(i).str.len_chars().max() or 0) for i in range(frame.width))
            if longest > csv.field_size_limit():
                raise DropRejected("cell_too_large", f"{entry.name}: a cell is longer than {csv.field_size_limit():,} characters",
                                   form=form.name)
            return _table_from_frame(form, frame, parsed)
    try:
        table = list(csv.reader(io.StringIO(_decode(data, entry.name), newline="")))
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise DropRejected("cell_too_large", f"{entry.name}: a cell is longer than {csv.field_size_limit():,} characters",
                               form=form.name) from exc
        raise DropRejected("unreadable", f"{entry.name} is not valid CSV: {exc}", form=form.name) from exc
    return _table(form, table[0], table[1:], parsed) if table else None


def _read_csv_folder(path: Path) -> ParsedDrop:
    parsed = ParsedDrop("csv", {})
    for entry in sorted(path.iterdir()):
        if entry.name == "manifest.json":
            try:
                parsed.manifest = json.loads(_decode(entry.read_bytes(), entry.name))
            except (json.JSONDecodeError, RecursionError) as exc:
                raise DropRejected("unreadable", f"manifest.json is not JSON: {exc}") from exc
            continue
        if entry.is_dir() or entry.suffix.lower() != ".csv":
            parsed.warnings.append(Finding("unknown_file", value=entry.name))
            continue
        form = form_named(entry.stem)
        if form is None:
            raise DropRejected("unknown_form", f"{entry.name} is not a form: name it after one, e.g. activity.csv, funds.csv, "
                                               "beneficiaries.csv, targets.csv, population.csv, sites.csv (or 项目活动.csv …)")
        table = _read_csv_table(entry, form, parsed)
        if table is not None:
            parsed.add_form(entry.name, table)
    return parsed


# XML's prolog: what may stand before the root element. A DOCTYPE there is how entity attacks begin.
_PROLOG_ITEM = re.compile(rb"\s*(<\?.*?\?>|<!--.*?-->)", re.S)
_EXTERNAL = re.compile(rb"\b(SYSTEM|PUBLIC)\b")


def _prolog_verdict(head: bytes) -> str:
    """'more' (need more bytes), 'ok' (the root element starts), 'external' or 'entities' (a DTD)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 parts are allowed by OOXML
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    position = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    while match := _PROLOG_ITEM.match(head, position):
        position = match.end()
    rest = head[position:].lstrip()
    if rest.startswith(b"<!DOCTYPE"):
        return "external" if _EXTERNAL.search(rest.split(b"]>", 1)[0]) else "entities"
    if not rest or rest.startswith((b"<?", b"<!--")):  # an item not yet closed
        return "more"
    return "ok"


def _check_xml_prolog(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Reject a part that declares a DTD; read only as far as its root element (or 1 MiB), never past its declared size."""
    with archive.open(info) as member:
        head = b""
        while True:
            chunk = member.read(64 * 1024)
            head += chunk
            verdict = _prolog_verdict(head)
            if verdict == "external" or (verdict == "entities" and (not chunk or b"]>" in head or len(head) >= MAX_DTD_BYTES)):
                rule = "xml_external_entity" if verdict == "external" else "xml_entity_expansion"
                raise DropRejected(rule, f"{info.filename} declares a DTD" + (" with external entities" if verdict == "external" else ""))
            if verdict == "ok" or not chunk or len(head) >= MAX_DTD_BYTES:
                return


def _inspect_workbook(path: Path) -> None:
    """Before calamine sees it: the declared expanded size within the limit, and no DTD in any XML part."""
    limit = max_drop_bytes()
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            expanded = sum(info.file_size for info in infos)
            if expanded > limit:
                raise DropRejected("expands_too_large", f"{path.name} expands to {expanded:,} bytes, over the limit of {limit:,}")
            for info in infos:
                if info.filename.lower().endswith((".xml", ".rels", ".vml")):
                    _check_xml_prolog(archive, info)
    except zipfile.BadZipFile as exc:
        if "CRC" in str(exc) or "size" in str(exc).lower():
            raise DropRejected("zip_size_mismatch", f"{path.name}: {exc}") from exc
        raise DropRejected("unreadable", f"{path.name} is not a valid xlsx workbook") from exc
    except (OSError, EOFError, NotImplementedError) as exc:
        raise DropRejected("unreadable", f"{path.name} is not a valid xlsx workbook: {exc}") from exc


def _calamine_rejection(path: Path, exc: Exception) -> DropRejected:
    # calamine (Rust) enforces each part's declared size itself and says so in its message.
    if "declared" in str(exc) and "size" in str(exc):
        return DropRejected("zip_size_mismatch", f"{path.name}: {exc}")
    return DropRejected("unreadable", f"{path.name} cannot be opened: {exc}")


def _read_xlsx(path: Path) -> ParsedDrop:
    from python_calamine import CalamineWorkbook

    _inspect_workbook(path)
    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for every kind of damage
        raise _calamine_rejection(path, exc) from exc
    parsed = ParsedDrop("xlsx", {})
    sheet_of: dict[str, str] = {}
    for sheet_name in book.sheet_names:
        form = form_named(sheet_name)
        if form is None:
            parsed.warnings.append(Finding("unknown_sheet", value=sheet_name))
            continue
        if form.name in sheet_of:  # even when one of the two is empty: which one counts cannot be told
            raise DropRejected("duplicate_form", f"sheets {sheet_of[form.name]} and {sheet_name} are both {form.name} ({form.zh})",
                               form=form.name)
        sheet_of[form.name] = sheet_name
        try:
            rows = book.get_sheet_by_name(sheet_name).to_python(skip_empty_area=False)
        except Exception as exc:
            raise _calamine_rejection(path, exc) from exc
        if rows:
            parsed.add_form(f"sheet {sheet_name}", _table(form, rows[0], [list(r) for r in rows[1:]], parsed))
    return parsed


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB]")


def _lone_surrogate(doc: object) -> str | None:
    """The first string (key or value) holding a lone surrogate; iterative, whatever the depth."""
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _read_json(path: Path, prefecture_code: str | None, period: str | None) -> ParsedDrop:
    text = _decode(path.read_bytes(), path.name)
    try:
        doc = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise DropRejected("unreadable", f"{path.name} is not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    except RecursionError as exc:
        raise DropRejected("json_too_deep", f"{path.name} nests lists or objects too deeply to read") from exc
    # json turns an escaped surrogate pair into one character; a lone one stays and breaks UTF-8 later.
    if _SURROGATE_ESCAPE.search(text) and (bad := _lone_surrogate(doc)) is not None:
        raise DropRejected("invalid_unicode", f"{path.name}: {printable_name(bad)[:200]}")
    if not isinstance(doc, dict) or not isinstance(doc.get("forms"), dict):
        raise DropRejected("unreadable", f'{path.name} has no "forms" object')
    for key, expected in (("prefecture_code", prefecture_code), ("period", period)):
        inside = normalise_text(doc.get(key))
        if expected is not None and inside and inside != expected:
            raise DropRejected("header_mismatch", f'"{key}" is {inside} in the file but {expected} in its path')
    parsed = ParsedDrop("json", {})
    for name, rows in doc["forms"].items():
        form = form_named(name)
        if form is None:
            raise DropRejected("unknown_form", f'"{name}" in "forms" is not a form: use activity, funds, beneficiaries, '
                                               "targets, population or sites (or 项目活动, 资金收支, 受益人明细, 年度任务, 人口基数, 阵地组织)")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise DropRejected("unreadable", f'"{name}" must be a list of row objects', form=form.name)
        header = list(dict.fromkeys(k for r in rows for k in r))
        if not header:
            header = [f.name for f in form.fields]  # an empty list is an empty form, not a missing column
        parsed.add_form(f'"{name}"', _table(form, header, [[r.get(k) for k in header] for r in rows], parsed))
    return parsed
