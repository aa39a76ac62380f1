"""Reading an xlsx workbook, one sheet per form, with the guards a workbook from outside needs.

Before calamine opens it, the archive is inspected (``_inspect_workbook``): its expanded size within the drop
limit, no DTD in any XML part (entity attacks), no macros, and no sheet spread over more cells than the limit
could fill (a zip bomb of one far cell). Then what Excel or WPS shows is what is read: a form's hidden sheet,
merged cells inside its table, hidden rows or columns holding data, and formulas with no computed value are
refused, naming the sheet, range or cells.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from halfsky.contract.cells import normalise_header, normalise_text
from halfsky.contract.forms import TEMPLATE_NOTE_SHEETS, Form
from halfsky.contract.rules import Finding
from halfsky.ingest.reading.drop import (
    MAX_COLUMNS, DropRejected, ParsedDrop, empty_form, form_named, form_table, header_lookup, is_blank_row, max_drop_bytes,
    misnamed_form,
)
from halfsky.ingest.reading.near_form_names import form_resembled_by

MAX_DTD_BYTES = 1 << 20  # a DTD is read only to tell its kind


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


def read_xlsx(path: Path) -> ParsedDrop:
    from python_calamine import CalamineWorkbook

    _inspect_workbook(path)
    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for every kind of damage
        raise _calamine_rejection(path, exc) from exc
    parsed = ParsedDrop("xlsx", {})
    sheet_of: dict[str, str] = {}
    with _SheetPrefetch(path, book) as prefetch:
        for sheet_name in prefetch.sheet_names:
            form = form_named(sheet_name)
            if form is None:
                if sheet_name in TEMPLATE_NOTE_SHEETS:
                    continue
                if resembled := form_resembled_by(sheet_name):
                    raise misnamed_form(f"sheet {sheet_name}", f"工作表 {sheet_name}", resembled, resembled.name)
                parsed.warnings.append(Finding("unknown_sheet", value=sheet_name))
                continue
            _refuse_hidden_sheet(prefetch.visibility.get(sheet_name), sheet_name, form)
            if form.name in sheet_of:  # even when one of the two is empty: which one counts cannot be told
                raise DropRejected("duplicate_form", f"sheets {sheet_of[form.name]} and {sheet_name} are both {form.name} "
                                                     f"({form.zh})", form=form.name)
            sheet_of[form.name] = sheet_name
            rows, merged = prefetch.cells(sheet_name)
            _refuse_cells_read_otherwise(sheet_name, form, merged, rows, lambda: prefetch.marks(sheet_name))
            if all(is_blank_row(row) for row in rows):
                raise empty_form(f"sheet {sheet_name}", f"工作表 {sheet_name}", form)
            parsed.add_form(f"sheet {sheet_name}", form_table(form, rows[0], rows[1:], parsed))
    return parsed


class _SheetPrefetch:
    """The form sheets' cells parsed by calamine on a thread of their own, while this one reads their marks.

    calamine parses without holding the GIL, so on a second core the pass over each sheet's XML for hidden rows and
    formulas (a third of a second for 200k rows) and the form table of one sheet are done while the next is parsed.
    The sheets parsed are the ones ``read_xlsx`` would read if nothing were refused first (forms, visible, the first
    of each form), in the same order; what each step raises is raised where ``read_xlsx`` asks for its result, so a
    drop is refused exactly as if read one sheet after the other. The archive was inspected before (``_inspect_workbook``):
    calamine is never given a sheet that spreads too far."""

    def __init__(self, path: Path, book) -> None:
        from python_calamine import SheetVisibleEnum

        self.path, self.book = path, book
        # read here, before the thread starts: calamine's workbook is not to be asked anything while it parses
        self.visibility = {}
        for m in book.sheets_metadata:  # two sheets of one name: the first's, as calamine's own look-up gives
            self.visibility.setdefault(m.name, m.visible)
        self.sheet_names: list[str] = list(book.sheet_names)
        first_of: dict[str, str] = {}
        for name in self.sheet_names:
            form = form_named(name)
            if form is not None and self.visibility.get(name, SheetVisibleEnum.Visible) == SheetVisibleEnum.Visible:
                first_of.setdefault(form.name, name)
        self.sheets = list(first_of.values())
        self._marks: dict[str, _SheetMarks | Exception] = {}

    def __enter__(self) -> "_SheetPrefetch":
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="calamine")
        self._cells = {name: self._pool.submit(self._parse, name) for name in self.sheets}
        return self

    def __exit__(self, *exc_info) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)  # a refused drop parses no further sheet

    def _parse(self, sheet_name: str) -> tuple[list[list], list]:
        try:
            sheet = self.book.get_sheet_by_name(sheet_name)
            return sheet.to_python(skip_empty_area=False), sheet.merged_cell_ranges or []
        except Exception as exc:
            raise _calamine_rejection(self.path, exc) from exc

    def cells(self, sheet_name: str) -> tuple[list[list], list]:
        if sheet_name not in self._cells:  # not foreseen (cannot happen while the rules above hold): once the thread
            for pending in self._cells.values():  # is done with the workbook, parse it here
                pending.exception()
            return self._parse(sheet_name)
        self._read_marks_while_parsing(sheet_name)
        return self._cells.pop(sheet_name).result()

    def _read_marks_while_parsing(self, sheet_name: str) -> None:
        """The marks of this sheet and the ones after it, as long as calamine is still parsing this one."""
        for name in self.sheets[self.sheets.index(sheet_name):]:
            if name not in self._marks and (name == sheet_name or not self._cells[sheet_name].done()):
                try:
                    self._marks[name] = _sheet_marks(self.path, name)
                except Exception as exc:  # raised when read_xlsx asks for these marks, not before: another
                    self._marks[name] = exc  # refusal of this sheet or an earlier one may come first

    def marks(self, sheet_name: str) -> "_SheetMarks":
        found = self._marks.pop(sheet_name, None) or _sheet_marks(self.path, sheet_name)
        if isinstance(found, Exception):
            raise found
        return found


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


def _refuse_hidden_sheet(state, sheet_name: str, form: Form) -> None:
    """``state``: the sheet's SheetVisibleEnum in the workbook's metadata (None: not listed, so shown)."""
    from python_calamine import SheetVisibleEnum

    if state is not None and state != SheetVisibleEnum.Visible:
        shown = "very hidden (only the VBA editor shows it)" if state == SheetVisibleEnum.VeryHidden else "hidden"
        raise DropRejected("hidden_sheet", f"sheet {sheet_name} is {shown}, and would be read as {form.name} ({form.zh}): "
                                           "unhide and check it, or delete it", form=form.name)


def _refuse_cells_read_otherwise(sheet_name: str, form: Form, merged: list, rows: list[list], sheet_marks) -> None:
    """Merged ranges inside the form's table (header row included), hidden rows or columns that hold what would be
    loaded, and formulas with no computed value (``sheet_marks()``: asked only when no merged range refused it)."""
    if not rows:
        return
    headers = [normalise_text(h) for h in rows[0]]
    # 0-based, the header is 0; from the end, since blank rows are at most a tail (a 200k-row sheet: 0.4 s less)
    last_row = next((i for i in range(len(rows) - 1, -1, -1) if not is_blank_row(rows[i])), 0)
    last_column = max((i for i, h in enumerate(headers) if h), default=-1)
    inside = sorted(((r0, c0), (r1, c1)) for (r0, c0), (r1, c1) in merged if r0 <= last_row and c0 <= last_column)
    if inside:
        ranges = [f"{_column_letters(c0 + 1)}{r0 + 1}:{_column_letters(c1 + 1)}{r1 + 1}" for (r0, c0), (r1, c1) in inside]
        raise DropRejected("merged_cells", f"sheet {sheet_name}: merged cells {_listed(ranges)}", form=form.name)
    marks = sheet_marks()
    hidden = []
    if hidden_rows := [r for r in marks.hidden_rows if 1 <= r <= last_row + 1 and not is_blank_row(rows[r - 1])]:
        hidden.append(f"hidden row {_listed([str(r) for r in hidden_rows])}")
    if hidden_columns := [c for c in marks.hidden_columns if 1 <= c <= last_column + 1 and headers[c - 1]]:
        hidden.append(f"hidden column {_listed([f'{_column_letters(c)} ({headers[c - 1]})' for c in hidden_columns])}")
    if hidden:
        raise DropRejected("hidden_cells", f"sheet {sheet_name}: {'; '.join(hidden)}", form=form.name)
    if marks.uncomputed:
        lookup = header_lookup(form)
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
