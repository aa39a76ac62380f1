"""Open a drop (xlsx, json, or a folder of csv) and hand back each form's header and cells.

File-level problems (unreadable, undecodable or mixed encodings, unknown
format or a workbook with macros, too large, zip bomb or a sheet spread over too
many cells, hostile XML, a link or device instead of a file, an odd name inside a
folder, too many columns, a JSON key given twice, missing required column, a
form given twice or not a form at all, prefecture/period inside the file
differing from the path) raise DropRejected with the rule id; nothing is half read.
"""

from __future__ import annotations

import csv
import io
import json
import os
import posixpath
import re
import stat
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from halfsky.contract.cells import normalise_header, normalise_text
from halfsky.contract.forms import FORMS, Field, Form
from halfsky.ingest.reading.gb18030_plausibility import tally
from halfsky.ingest.reading.near_form_names import form_resembled_by
from halfsky.ingest.reading.os_litter import is_os_litter
from halfsky.contract.rules import Finding
from halfsky.contract.untrusted_text import is_safe_name, printable_name

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
CHUNK = 1 << 20
MAX_DTD_BYTES = 1 << 20  # a DTD is read only to tell its kind
# A form has at most ten fields; a sheet, csv or JSON form with more columns than this is not a form
# (and a million of them would take minutes to name in warnings).
MAX_COLUMNS = 1000
# JSON numbers longer than this are read as Decimal: Python refuses int() past 4300 digits.
_LONG_INT_DIGITS = 40


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
    if not is_safe_name(path.name):
        return DropRejected("unsafe_name", f"{printable_name(path.name)}: rename it with plain UTF-8 characters")
    if stat.S_ISDIR(mode):  # the whole folder, as the landing listing sees it (os.walk never follows a link)
        for folder, dirs, files in os.walk(path):
            for name in sorted(dirs + files):
                entry = Path(folder, name)
                entry_mode = entry.lstat().st_mode
                if stat.S_ISLNK(entry_mode) or not (stat.S_ISREG(entry_mode) or stat.S_ISDIR(entry_mode)):
                    return entry_problem(entry)
                if not is_safe_name(name):  # a file's name is shown in reports and used to store it
                    return DropRejected("unsafe_name", f"{printable_name(path.name)}/{printable_name(os.path.relpath(entry, path))}: "
                                                       "rename it with plain UTF-8 characters")
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
                                       "annual targets/年度任务, population/人口基数, sites/阵地组织, grassroots/基层组织覆盖")
    return parsed


def _header(form: Form, header: list, parsed: ParsedDrop) -> tuple[list, list, list]:
    """Each column's field (None if unknown), money scale and unit; rejects a drop missing a required column."""
    check_width(form, header)
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


def check_width(form: Form, header: list, source: str | None = None) -> None:
    """A form's columns, up to its last named one, are at most MAX_COLUMNS."""
    width = len(header)
    if width > MAX_COLUMNS:
        width = next((i + 1 for i in range(len(header) - 1, -1, -1) if normalise_text(header[i]) != ""), 0)
    if width > MAX_COLUMNS:
        raise DropRejected("too_many_columns", f"{source or form.name}: {width:,} columns, a form has at most {MAX_COLUMNS:,}",
                           form=form.name)


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
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise DropRejected("undecodable", f"{name} is neither UTF-8 nor GB18030") from None
    _refuse_mixed_encodings(data, name)
    _refuse_implausible_gb18030(text, name)
    return text


def _refuse_implausible_gb18030(text: str, name: str) -> None:
    """Bytes of another two-byte encoding (Big5…) decode as GB18030 too, into nonsense: never loaded garbled."""
    found = tally(text)
    if found.implausible:
        raise DropRejected("undecodable", (
            f"{name} 按 GB18030 读出的文字不像中文（{found.odd + found.rare:,}/{found.counted:,} 个非常用字符，如 {found.examples}），"
            f"可能是繁体 Big5 等其他编码：请另存为 UTF-8 或 GB18030 / {name} read as GB18030 is not plausible Chinese "
            f"({found.odd + found.rare:,} of {found.counted:,} characters uncommon, e.g. {found.examples}): it seems saved in "
            "another encoding (Big5?); save it as UTF-8 or GB18030"))


# Chinese text as UTF-8: three bytes per character. GB18030 can decode many such runs too, into other
# characters, so a file mixing the two would load garbled names without an error.
_UTF8_CJK = re.compile(rb"[\xe3-\xe9][\x80-\xbf]{2}")
# A line that reads as UTF-8 Chinese: ASCII, CJK punctuation, ideographs and full-width forms only (GB18030
# bytes that happen to be valid UTF-8 read as Latin, Cyrillic, symbols… almost always).
_CHINESE_LINE = re.compile(r"[\x00-\x7f\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]*")


def _refuse_mixed_encodings(data: bytes, name: str) -> None:
    """A file that is not UTF-8 as a whole but has lines of Chinese that are mixes encodings."""
    if not _UTF8_CJK.search(data):
        return
    first_utf8 = first_other = None
    for number, line in enumerate(data.splitlines(), start=1):
        if line.isascii():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            first_other = first_other or number
        else:
            if _CHINESE_LINE.fullmatch(text) and _UTF8_CJK.search(line):
                first_utf8 = first_utf8 or number
        if first_utf8 and first_other:
            raise DropRejected("undecodable", f"{name} mixes encodings: line {first_utf8} is UTF-8, line {first_other} is not; "
                                              "save the whole file as UTF-8 (or as GB18030)")


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
            if all(_is_blank_row(frame.row(i)) for i in range(frame.height)):  # blank lines only: no header row
                return None
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
    if all(_is_blank_row(row) for row in table):  # nothing, or blank lines only: no header row
        return None
    return _table(form, table[0], table[1:], parsed)


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


def _read_csv_folder(path: Path) -> ParsedDrop:
    parsed = ParsedDrop("csv", {})
    for entry in sorted(path.iterdir()):
        if entry.name == "manifest.json":
            parsed.manifest = _parse_json(_decode(entry.read_bytes(), entry.name), entry.name)
            continue
        if is_os_litter(entry.name):
            parsed.warnings.append(Finding("system_file", value=entry.name))
            continue
        if entry.is_dir() or entry.suffix.lower() != ".csv":
            if entry.is_file() and (resembled := form_named(entry.stem) or form_resembled_by(entry.stem)):
                raise _misnamed(f"file {entry.name}", f"文件 {entry.name}", resembled, f"{resembled.name}.csv")
            parsed.warnings.append(Finding("unknown_file", value=entry.name))
            continue
        form = form_named(entry.stem)
        if form is None:
            if resembled := form_resembled_by(entry.stem):
                raise _misnamed(f"file {entry.name}", f"文件 {entry.name}", resembled, f"{resembled.name}.csv")
            raise DropRejected("unknown_form", f"{entry.name} is not a form: name it after one, e.g. activity.csv, funds.csv, "
                                               "beneficiaries.csv, targets.csv, population.csv, sites.csv, grassroots.csv (or 项目活动.csv …)")
        table = _read_csv_table(entry, form, parsed)
        if table is None:
            raise _empty_form(f"file {entry.name}", f"文件 {entry.name}", form)
        parsed.add_form(entry.name, table)
    return parsed


def _misnamed(what: str, what_zh: str, form: Form, proper: str) -> DropRejected:
    return DropRejected("misnamed_form", f"{what_zh} 像是报表 {form.zh}（{form.name}），但名称不符：请改为 {proper}（或 {form.zh}）或删除 / "
                                         f"{what} looks like the form {form.name} ({form.zh}) but is not named so: make it "
                                         f"{proper} (or {form.zh}), or remove it", form=form.name)


def _empty_form(what: str, what_zh: str, form: Form) -> DropRejected:
    return DropRejected("empty_form", f"{what_zh}（{form.zh}）是空的，没有表头行：本期如无此报表请删除它，否则请填写 / "
                                      f"{what} ({form.name}) is empty, without even a header row: remove it if the form has "
                                      "nothing this period, or fill it in", form=form.name)


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


# A sheet is read into a grid as wide and as tall as its farthest cells: one cell at XFD1048576 in a
# 5 KB file asks for 17 billion. No sheet may span more cells than its workbook's size limit could fill.
def max_sheet_cells() -> int:
    return max(max_drop_bytes() // 10, 1_000_000)


_SHEET_CHUNK = 4 << 20
# Cells and rows as every spreadsheet writer spells them: the reference first. Only these are read
# with the fast patterns below; anything else (a prefix, a cell without a reference…) is walked tag by tag.
_ODD_TAG = re.compile(rb'<c(?=[\s/>])(?! r=")|<row(?=[\s/>])(?! r=")')
_PREFIXED_TAG = re.compile(rb":(?:c[ >/]|row)")  # <x:c …>, <x:row …>: one regex pass, 6 times faster than four `in`s
_WIDE_REF = re.compile(rb'<c r="([A-Z]{2,})[0-9]')
_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(c|row)(\s[^>]*)?/?>")
_REF_ATTRIBUTE = re.compile(rb"\br\s*=\s*[\"']([A-Za-z]*)([0-9]+)[\"']")
_CONTENT_MACROS = re.compile(rb"macroEnabled|vbaProject", re.I)
_RELATIONSHIP_TARGET = re.compile(rb"""\bTarget\s*=\s*["']([^"']+)["']""")


def _greater_than(limit: int) -> bytes:
    """A regex for decimal numbers (no leading zero) greater than ``limit``."""
    digits = str(limit)
    options = [b"[1-9][0-9]{%d,}" % len(digits)]
    for i, d in enumerate(digits):
        if d != "9":
            options.append(digits[:i].encode() + b"[%d-9]" % (int(d) + 1) + (b"[0-9]{%d}" % (len(digits) - i - 1)))
    return b"(?:" + b"|".join(options) + b")"


def _too_far(limit: int, columns: int) -> re.Pattern:
    """A cell or row reference further down than ``limit`` cells allow in a sheet ``columns`` wide."""
    return re.compile(rb'<(?:c r="[A-Z]*|row r=")' + _greater_than(limit // columns) + rb'"')


def _column_number(letters: bytes) -> int:
    number = 0
    for c in letters.upper():
        number = number * 26 + c - 64
    return number


def _member_chunks(archive: zipfile.ZipFile, info: zipfile.ZipInfo, boundary: bytes = b">"):
    """The part's bytes in chunks cut after ``boundary``: a tag's ``>``, so no tag is split between two chunks
    (or ``row>``, so no row of cells is, unless one row is longer than a chunk)."""
    with archive.open(info) as member:
        carry = b""
        while chunk := member.read(_SHEET_CHUNK):
            chunk = carry + chunk
            cut = chunk.rfind(boundary) + len(boundary)
            if len(boundary) <= cut and len(chunk) - cut < _SHEET_CHUNK:
                chunk, carry = chunk[:cut], chunk[cut:]
            else:
                carry = b""
            yield chunk
        if carry:
            yield carry


def _check_sheet_extent(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Reject a sheet whose cells spread over more than max_sheet_cells(), before calamine sizes its grid."""
    limit = max_sheet_cells()
    columns, odd, far = 26, False, None  # first guess: every cell sits in A..Z
    narrow = _too_far(limit, columns)
    for chunk in _member_chunks(archive, info):
        odd = odd or bool(_ODD_TAG.search(chunk)) or bool(_PREFIXED_TAG.search(chunk))
        for match in _WIDE_REF.finditer(chunk):
            columns = max(columns, _column_number(match.group(1)))
        far = far or narrow.search(chunk)
    if not odd:
        if far is None:
            return
        if columns > 26:  # the widest column is known exactly now: is any row too far down for it?
            wide = _too_far(limit, columns)
            far = next((m for chunk in _member_chunks(archive, info) if (m := wide.search(chunk))), None)
            if far is None:
                return
            raise DropRejected("expands_too_large", f"{info.filename}: {far.group().decode('ascii')} spreads the sheet over "
                                                    f"more than {limit:,} cells ({columns:,} columns wide)")
    # Rare (a cell without a reference, a namespace prefix, a sheet of a million rows): walk it tag by tag.
    rows, columns = _placed_extent(archive, info)
    if rows * columns > limit:
        raise DropRejected("expands_too_large", f"{info.filename} spreads over {rows:,} rows × {columns:,} columns, "
                                                f"more than {limit:,} cells")


def _placed_extent(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[int, int]:
    """Rows × columns of the grid, as calamine places cells: by reference, else after the one before."""
    row = column = rows = columns = 0
    for chunk in _member_chunks(archive, info):
        for match in _TAG.finditer(chunk):
            place = _REF_ATTRIBUTE.search(match.group(2) or b"")
            if match.group(1) == b"row":
                row, column = (int(place.group(2)) if place else row + 1), 0
            elif place and place.group(1):
                column, row = _column_number(place.group(1)), int(place.group(2))
            else:
                column += 1
            rows, columns = max(rows, row), max(columns, column)
    return rows, columns


def _head(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A small part's bytes (content types, relationships): its first MiB, however large it claims to be."""
    with archive.open(info) as member:
        return member.read(MAX_DTD_BYTES)


def _sheet_parts(archive: zipfile.ZipFile, names: dict[str, zipfile.ZipInfo]) -> list[zipfile.ZipInfo]:
    """The parts calamine may read as sheets: the workbook's relationship targets and xl/worksheets/*."""
    parts = {n for n in names if n.startswith("xl/worksheets/") and n.endswith(".xml")}
    rels = names.get("xl/_rels/workbook.xml.rels")
    if rels is not None:
        for target in _RELATIONSHIP_TARGET.findall(_head(archive, rels)):
            target = target.decode("utf-8", "replace").lstrip("/") if target.startswith(b"/") else \
                posixpath.normpath("xl/" + target.decode("utf-8", "replace"))
            parts.add(target.lower())
    skip = {"xl/sharedstrings.xml", "xl/styles.xml"}
    return [names[n] for n in sorted(parts) if n in names and n not in skip and not n.startswith("xl/theme/")]


def _inspect_workbook(path: Path) -> None:
    """Before calamine sees it: the declared expanded size within the limit, no DTD in any XML part,
    no macros, and no sheet that spreads over more cells than the limit allows."""
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
            names = {info.filename.lower(): info for info in infos}
            types = names.get("[content_types].xml")
            if any(n.endswith("vbaproject.bin") for n in names) or (types and _CONTENT_MACROS.search(_head(archive, types))):
                raise DropRejected("unknown_format", f"{path.name} holds macros (an .xlsm workbook): save it as a plain "
                                                     ".xlsx workbook; macros are never run here")
            for info in _sheet_parts(archive, names):
                _check_sheet_extent(archive, info)
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
            if resembled := form_resembled_by(sheet_name):
                raise _misnamed(f"sheet {sheet_name}", f"工作表 {sheet_name}", resembled, resembled.name)
            parsed.warnings.append(Finding("unknown_sheet", value=sheet_name))
            continue
        _refuse_hidden_sheet(book, sheet_name, form)
        if form.name in sheet_of:  # even when one of the two is empty: which one counts cannot be told
            raise DropRejected("duplicate_form", f"sheets {sheet_of[form.name]} and {sheet_name} are both {form.name} ({form.zh})",
                               form=form.name)
        sheet_of[form.name] = sheet_name
        try:
            sheet = book.get_sheet_by_name(sheet_name)
            rows, merged = sheet.to_python(skip_empty_area=False), sheet.merged_cell_ranges or []
        except Exception as exc:
            raise _calamine_rejection(path, exc) from exc
        _refuse_cells_read_otherwise(path, sheet_name, form, merged, rows)
        if all(_is_blank_row(row) for row in rows):
            raise _empty_form(f"sheet {sheet_name}", f"工作表 {sheet_name}", form)
        parsed.add_form(f"sheet {sheet_name}", _table(form, rows[0], [list(r) for r in rows[1:]], parsed))
    return parsed


# What Excel or WPS shows is what is read. A form's hidden sheet, a merged range (only its top-left cell holds the
# value, the rows under it read empty: 5, 0, 0), hidden rows or columns holding data, or a formula no program
# computed (calamine reads it as an empty cell, so an optional count as 0) would each load something other than what
# the sender sees: the drop is refused instead, naming the sheet, range or cells.
_TAG_PREFIX = rb"(?:[\w.-]+:)?"  # a namespace prefix: <x:c>, <x:f>


def _formula_without_value(prefix: bytes) -> bytes:
    """A formula (a cell's first child, by the schema), then no value or an empty one (group ``value``), then the
    cell's end: <f>1+1</f></c>, <f t="shared" si="0"/><v/></c>."""
    return (rb"<" + prefix + rb"f(?:\s[^>]*?)?(?:/>|>[^<]*</" + prefix + rb"f>)\s*"
            rb"(?P<value><" + prefix + rb"v(?:\s[^>]*?)?(?:/>|>\s*</" + prefix + rb"v>))?\s*</" + prefix + rb"c>")


_FORMULA_WITHOUT_VALUE = re.compile(_formula_without_value(b""))
# With namespace prefixes, from the cell's start tag (group ``attributes``): slower, for the rare sheet that writes them.
_PREFIXED_FORMULA_WITHOUT_VALUE = re.compile(rb"<" + _TAG_PREFIX + rb"c(?P<attributes>\s[^>]*?)?(?<!/)>\s*"
                                             + _formula_without_value(_TAG_PREFIX))
_TYPE_ATTRIBUTE = re.compile(rb"""\bt\s*=\s*["']([^"']*)["']""")
_HIDDEN = re.compile(rb"""hidden\s*=\s*["'](?:1|true)["']""")
_TAG_NAME = re.compile(rb"<(?:[\w.-]+:)?(row|col)\s")
_ROW_NUMBER = re.compile(rb"""\br\s*=\s*["']([0-9]+)["']""")
_COL_MIN = re.compile(rb"""\bmin\s*=\s*["']([0-9]+)["']""")
_COL_MAX = re.compile(rb"""\bmax\s*=\s*["']([0-9]+)["']""")
_SHOWN_CELLS = 10  # a rejection names this many cells or ranges, and counts the rest


def _refuse_hidden_sheet(book, sheet_name: str, form: Form) -> None:
    from python_calamine import SheetVisibleEnum

    state = next((m.visible for m in book.sheets_metadata if m.name == sheet_name), SheetVisibleEnum.Visible)
    if state != SheetVisibleEnum.Visible:
        shown = "very hidden (only the VBA editor shows it)" if state == SheetVisibleEnum.VeryHidden else "hidden"
        raise DropRejected("hidden_sheet", f"sheet {sheet_name} is {shown}, and would be read as {form.name} ({form.zh}): "
                                           "unhide and check it, or delete it", form=form.name)


def _refuse_cells_read_otherwise(path: Path, sheet_name: str, form: Form, merged: list, rows: list[list]) -> None:
    """Merged ranges inside the form's table (header row included), hidden rows or columns that hold what would be
    loaded, and formulas with no computed value."""
    if not rows:
        return
    headers = [normalise_text(h) for h in rows[0]]
    last_row = max((i for i, r in enumerate(rows) if not _is_blank_row(r)), default=0)  # 0-based, the header is 0
    last_column = max((i for i, h in enumerate(headers) if h), default=-1)
    inside = sorted(((r0, c0), (r1, c1)) for (r0, c0), (r1, c1) in merged if r0 <= last_row and c0 <= last_column)
    if inside:
        ranges = [f"{_column_letters(c0 + 1)}{r0 + 1}:{_column_letters(c1 + 1)}{r1 + 1}" for (r0, c0), (r1, c1) in inside]
        raise DropRejected("merged_cells", f"sheet {sheet_name}: merged cells {_listed(ranges)}", form=form.name)
    marks = _sheet_marks(path, sheet_name)
    hidden = []
    if hidden_rows := [r for r in marks.hidden_rows if 1 <= r <= last_row + 1 and not _is_blank_row(rows[r - 1])]:
        hidden.append(f"hidden row {_listed([str(r) for r in hidden_rows])}")
    if hidden_columns := [c for c in marks.hidden_columns if 1 <= c <= last_column + 1 and headers[c - 1]]:
        hidden.append(f"hidden column {_listed([f'{_column_letters(c)} ({headers[c - 1]})' for c in hidden_columns])}")
    if hidden:
        raise DropRejected("hidden_cells", f"sheet {sheet_name}: {'; '.join(hidden)}", form=form.name)
    if marks.uncomputed:
        lookup = _header_lookup(form)
        fields = [lookup.get(normalise_header(h)[0]) if h else None for h in headers]
        named = [(ref, fields[column] if 0 <= column < len(fields) else None) for ref, column in marks.uncomputed]
        cells = _listed([f"{ref} ({f.name})" if f else ref for ref, f in named])
        raise DropRejected("formula_not_computed", f"sheet {sheet_name}: no computed value for the formula in {cells}",
                           form=form.name, field=next((f.name for _, f in named if f), None))


def _listed(items: list[str]) -> str:
    more = len(items) - _SHOWN_CELLS
    return ", ".join(items[:_SHOWN_CELLS]) + (f" and {more:,} more" if more > 0 else "")


def _column_letters(column: int) -> str:
    """A 1-based column as the sender reads it: 4 -> D, 27 -> AA."""
    letters = ""
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _sheet_part(archive: zipfile.ZipFile, sheet_name: str) -> zipfile.ZipInfo | None:
    """The part holding a sheet's cells, as workbook.xml and its relationships name it (DTDs were refused before)."""
    import xml.etree.ElementTree as ET

    names = {info.filename.lower(): info for info in archive.infolist()}
    book, rels = names.get("xl/workbook.xml"), names.get("xl/_rels/workbook.xml.rels")
    if book is None or rels is None:
        return None
    local = lambda name: name.rsplit("}", 1)[-1]  # noqa: E731  transitional and strict OOXML differ in namespaces
    try:
        sheets, relationships = ET.fromstring(archive.read(book)), ET.fromstring(archive.read(rels))
    except ET.ParseError as exc:
        raise DropRejected("unreadable", f"the workbook's list of sheets cannot be read: {exc}") from exc
    sheet_id = next((value for element in sheets.iter() if local(element.tag) == "sheet" and element.get("name") == sheet_name
                     for key, value in element.attrib.items() if local(key) == "id"), None)
    target = next((element.get("Target") for element in relationships.iter()
                   if local(element.tag) == "Relationship" and element.get("Id") == sheet_id), None)
    if target is None:
        return None
    part = target.lstrip("/") if target.startswith("/") else posixpath.normpath("xl/" + target)
    return names.get(part.lower())


@dataclass
class _SheetMarks:
    """What a sheet's XML says beyond its values (calamine does not tell)."""

    uncomputed: list[tuple[str, int]] = field(default_factory=list)  # (cell, 0-based column) of formulas with no value
    hidden_rows: list[int] = field(default_factory=list)  # 1-based, as the sender numbers them
    hidden_columns: list[int] = field(default_factory=list)  # 1-based: 6 is F


def _sheet_marks(path: Path, sheet_name: str) -> _SheetMarks:
    """Formulas the workbook holds no computed value for (<f> with no <v>, or an empty one, as openpyxl and other
    writers that do not calculate save them; an empty <v> of a text formula, t="str", is Excel's computed empty
    text), and hidden rows and columns: one pass over the sheet's XML."""
    marks = _SheetMarks()
    with zipfile.ZipFile(path) as archive:
        info = _sheet_part(archive, sheet_name)
        if info is None:
            return marks
        for chunk in _member_chunks(archive, info, boundary=b"row>"):
            for attributes, empty_value in _cells_of_formulas_without_value(chunk):
                kind = _TYPE_ATTRIBUTE.search(attributes)
                if empty_value and kind and kind.group(1) == b"str":
                    continue  # a text formula Excel computed to "": its <v> is there, empty
                place = _REF_ATTRIBUTE.search(attributes)
                marks.uncomputed.append((place.group(1).decode() + place.group(2).decode(), _column_number(place.group(1)) - 1)
                                        if place else ("a cell without a reference", -1))
            if b"hidden" in chunk:
                _hidden_rows_and_columns(chunk, marks)
    return marks


def _hidden_rows_and_columns(chunk: bytes, marks: _SheetMarks) -> None:
    for hidden in _HIDDEN.finditer(chunk):
        start = chunk.rfind(b"<", 0, hidden.start())
        tag = _TAG_NAME.match(chunk, start)
        if tag is None:
            continue
        attributes = chunk[tag.end():hidden.start()]
        if tag.group(1) == b"row" and (row := _ROW_NUMBER.search(attributes)):
            marks.hidden_rows.append(int(row.group(1)))
        elif tag.group(1) == b"col" and (low := _COL_MIN.search(attributes)) and (high := _COL_MAX.search(attributes)):
            first, last = int(low.group(1)), min(int(high.group(1)), MAX_COLUMNS + 1)  # <col max="16384"/> is every column
            marks.hidden_columns.extend(range(first, last + 1))


def _cells_of_formulas_without_value(chunk: bytes):
    """(cell's attributes, its empty <v> or None) of each formula in the chunk with no value after it.

    The pattern starts with the literal <f, which the regex engine finds as fast as a byte search: a sheet of
    200,000 computed formulas costs a tenth of a second. Only a sheet with namespace prefixes (<x:f>) takes the
    slower pattern that tries every tag."""
    if b":f" in chunk:
        for cell in _PREFIXED_FORMULA_WITHOUT_VALUE.finditer(chunk):
            yield cell.group("attributes") or b"", cell.group("value")
        return
    for match in _FORMULA_WITHOUT_VALUE.finditer(chunk):
        start = chunk.rfind(b"<c", 0, match.start())
        end = chunk.find(b">", start) if start >= 0 else -1
        if 0 <= end < match.start() and not chunk[end + 1:match.start()].strip():  # the formula is the cell's first child
            yield chunk[start + 2:end], match.group("value")


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


def _object_without_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object whose keys are all different: of a key given twice, which value counts cannot be told."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise DropRejected("json_duplicate_key", f'"{printable_name(key)[:200]}" appears twice in one object')
    return obj


def _long_int(text: str) -> int | Decimal:
    """An integer as int, or as Decimal past Python's int() limit (the cell's rule then says it is out of range)."""
    return int(text) if len(text) <= _LONG_INT_DIGITS else Decimal(text)


def _parse_json(text: str, name: str):
    # NaN and Infinity are not JSON (RFC 8259), but Python reads them: as text, so a count or an
    # amount spelt so is a type error in its own row and field, never a blank or a zero.
    options = dict(parse_float=Decimal, parse_constant=str, object_pairs_hook=_object_without_duplicate_keys)
    try:
        try:
            return json.loads(text, **options)
        except ValueError as exc:
            if isinstance(exc, json.JSONDecodeError) or "digits" not in str(exc):
                raise
            return json.loads(text, parse_int=_long_int, **options)  # a number of thousands of digits
    except json.JSONDecodeError as exc:
        raise DropRejected("unreadable", f"{name} is not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    except RecursionError as exc:
        raise DropRejected("json_too_deep", f"{name} nests lists or objects too deeply to read") from exc


def _read_json(path: Path, prefecture_code: str | None, period: str | None) -> ParsedDrop:
    text = _decode(path.read_bytes(), path.name)
    doc = _parse_json(text, path.name)
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
            if resembled := form_resembled_by(name):
                raise _misnamed(f'"{name}" in "forms"', f'"forms" 中的 "{name}"', resembled, f'"{resembled.name}"')
            raise DropRejected("unknown_form", f'"{name}" in "forms" is not a form: use activity, funds, beneficiaries, '
                                               "targets, population, sites or grassroots (or 项目活动, 资金收支, 受益人明细, 年度任务, 人口基数, 阵地组织, 基层组织覆盖)")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise DropRejected("unreadable", f'"{name}" must be a list of row objects', form=form.name)
        header = list(dict.fromkeys(k for r in rows for k in r))
        if not header:
            header = [f.name for f in form.fields]  # an empty list is an empty form, not a missing column
        check_width(form, header, f'"{name}"')  # before a row of a million keys becomes a million cells per row
        parsed.add_form(f'"{name}"', _table(form, header, [[r.get(k) for k in header] for r in rows], parsed))
    return parsed
