"""Hand-made drops, valid and hostile, for the poison-drop tests.

Each builder writes one drop into ``<root>/<prefecture>/<period>/`` and returns
its path. The valid drop is small and exact so a test can tell what was loaded.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import zipfile
from datetime import datetime
from pathlib import Path

from halfsky.contract.id_numbers import check_digit

ARRIVED = datetime.fromisoformat("2026-10-05T12:00:00+08:00")


def id_number(first17: str = "15010219850315002") -> str:
    return first17 + check_digit(first17)


def valid_doc(prefecture: str, period: str, *, counterparty: str = "呼和浩特市慈善总会", amount: str = "70000.00") -> dict:
    region = prefecture[:4] + "02"  # the first district of the prefecture (150102 新城区, 654002 伊宁市…)
    day = f"{period}-05"
    return {
        "prefecture_code": prefecture,
        "period": period,
        "forms": {
            "activity": [{"region_code": region, "program_code": "MOTHER_PARCEL", "beneficiary_group_code": "LOW_INCOME_WOMEN",
                          "events": 2, "beneficiaries": 40, "volunteers": 6, "remarks": "母亲邮包发放"}],
            "funds": [{"region_code": region, "program_code": "MOTHER_PARCEL", "fund_source_code": "GOV_CENTRAL",
                       "flow_type": "INCOMING", "amount_yuan": amount, "txn_date": day, "voucher_no": f"V-{period}-1",
                       "counterparty": counterparty}],
            "beneficiaries": [{"region_code": region, "program_code": "MOTHER_PARCEL", "beneficiary_group_code": "LOW_INCOME_WOMEN",
                               "id_number": id_number(prefecture + "19850315002"), "name": "王秀英",
                               "benefit_date": day, "benefit_type": "GOODS", "amount_yuan": None}],
        },
    }


def place(root: Path, prefecture: str, period: str, name: str) -> Path:
    folder = root / prefecture / period
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def arrived(path: Path, when: datetime = ARRIVED) -> Path:
    os.utime(path, (when.timestamp(),) * 2, follow_symlinks=False)
    return path


def write_json(root: Path, prefecture: str, period: str, name: str, doc: dict | str | bytes) -> Path:
    path = place(root, prefecture, period, name)
    if isinstance(doc, dict):
        doc = json.dumps(doc, ensure_ascii=False)
    path.write_bytes(doc.encode("utf-8") if isinstance(doc, str) else doc)
    return arrived(path)


def income_drop(root: Path, prefecture: str, county: str, period: str, name: str, amount: str,
                received: datetime) -> str:
    """A valid json drop of one cash income to the county (voucher IN-<name>); its path below ``root``."""
    document = {"prefecture_code": prefecture, "period": period, "forms": {"funds": [
        {"region_code": county, "program_code": "MOTHER_PARCEL", "fund_source_code": "GOV_COUNTY",
         "flow_type": "INCOMING", "amount_yuan": amount, "txn_date": f"{period}-05", "voucher_no": f"IN-{name}"}]}}
    return str(arrived(write_json(root, prefecture, period, f"{name}.json", document), received).relative_to(root))


def write_csv_folder(root: Path, prefecture: str, period: str, name: str, files: dict[str, bytes | list[dict]]) -> Path:
    folder = place(root, prefecture, period, name)
    folder.mkdir(exist_ok=True)
    for file_name, content in files.items():
        if isinstance(content, list):
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=list(dict.fromkeys(k for r in content for k in r)))
            writer.writeheader()
            writer.writerows(content)
            content = out.getvalue().encode("utf-8")
        (folder / file_name).write_bytes(content)
        arrived(folder / file_name)
    return arrived(folder)


def xlsx_bytes(doc: dict, sheet_names: dict[str, list[str]] | None = None) -> bytes:
    """The doc's forms as a workbook, a sheet per form (or several sheets per form, by name)."""
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    for form, rows in doc["forms"].items():
        for sheet_name in (sheet_names or {}).get(form, [form]):
            sheet = book.add_worksheet(sheet_name)
            header = list(dict.fromkeys(k for r in rows for k in r))
            sheet.write_row(0, 0, header)
            for i, row in enumerate(rows, start=1):
                sheet.write_row(i, 0, ["" if row.get(k) is None else str(row[k]) for k in header])
    book.close()
    return out.getvalue()


def write_xlsx(root: Path, prefecture: str, period: str, name: str, data: bytes) -> Path:
    path = place(root, prefecture, period, name)
    path.write_bytes(data)
    return arrived(path)


def _rewrite_member(data: bytes, member: str, change) -> bytes:
    """The same zip with one member's text changed: change(text) -> text."""
    return _rewrite_member_bytes(data, member, lambda content: change(content.decode("utf-8")).encode("utf-8"))


def _with_doctype(xml: str, doctype: str, entity_ref: str) -> str:
    xml = xml.replace("?>", "?>" + doctype, 1)
    # The first shared string becomes a reference to the entity.
    return re.sub(r"<t>[^<]*</t>", f"<t>{entity_ref}</t>", xml, count=1)


def billion_laughs_xlsx(doc: dict) -> bytes:
    lol = ['<!ENTITY lol "lol">'] + [f'<!ENTITY lol{i} "{("&lol%s;" % ("" if i == 1 else i - 1)) * 10}">' for i in range(1, 10)]
    doctype = "<!DOCTYPE lolz [" + "".join(lol) + "]>"
    return _rewrite_member(xlsx_bytes(doc), "xl/sharedStrings.xml", lambda x: _with_doctype(x, doctype, "&lol9;"))


def xxe_xlsx(doc: dict) -> bytes:
    doctype = '<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    return _rewrite_member(xlsx_bytes(doc), "xl/sharedStrings.xml", lambda x: _with_doctype(x, doctype, "&xxe;"))


def lying_size_xlsx(doc: dict, padding: int = 3_000_000) -> bytes:
    """A workbook whose first sheet really expands to megabytes while its headers say 100 bytes."""
    data = _rewrite_member(xlsx_bytes(doc), "xl/worksheets/sheet1.xml",
                           lambda x: x.replace("</worksheet>", "<!--" + " " * padding + "--></worksheet>"))
    member = b"xl/worksheets/sheet1.xml"
    patched = bytearray(data)
    # Local header: uncompressed size at offset 22; central directory entry: at offset 24.
    for signature, size_offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := patched.find(signature, start)) >= 0:
            name_offset = 30 if signature == b"PK\x03\x04" else 46
            name_len = int.from_bytes(patched[start + (26 if signature == b"PK\x03\x04" else 28):][:2], "little")
            if bytes(patched[start + name_offset:start + name_offset + name_len]) == member:
                patched[start + size_offset:start + size_offset + 4] = (100).to_bytes(4, "little")
            start += 4
    return bytes(patched)


def nested_json(prefecture: str, period: str, depth: int = 100_000) -> str:
    return ('{"prefecture_code": "%s", "period": "%s", "forms": {"activity": [{"remarks": ' % (prefecture, period)
            + "[" * depth + "]" * depth + "}]}}")


def _rewrite_member_bytes(data: bytes, member: str, change) -> bytes:
    """The same zip with one member's bytes changed: change(bytes) -> bytes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            dst.writestr(info.filename, change(content) if info.filename == member else content)
    return out.getvalue()


def _with_members(data: bytes, members: dict[str, bytes], changes: dict[str, object] | None = None) -> bytes:
    """The workbook with parts added and parts' text changed (change(text) -> text)."""
    for member, change in (changes or {}).items():
        data = _rewrite_member(data, member, change)
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as dst:
        for name, content in members.items():
            dst.writestr(name, content)
    return out.getvalue()


def xlsx_with_sheet_named(doc: dict, name: bytes) -> bytes:
    """The doc's workbook and one more sheet whose name in workbook.xml is exactly these bytes (XML-escaped
    text, or bytes that are not UTF-8 at all)."""
    with_extra = {**doc, "forms": {**doc["forms"], "zz_extra": [{"note": "x"}]}}
    return _rewrite_member_bytes(xlsx_bytes(with_extra), "xl/workbook.xml",
                                 lambda x: x.replace(b'name="zz_extra"', b'name="' + name + b'"'))


def macro_xlsx(doc: dict) -> bytes:
    """An .xlsm renamed .xlsx: a VBA project part and the macro-enabled content type."""
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504  # an OLE compound file header, as vbaProject.bin has
    return _with_members(xlsx_bytes(doc), {"xl/vbaProject.bin": ole}, {
        "[Content_Types].xml": lambda x: x.replace("spreadsheetml.sheet.main+xml", "sheet.macroEnabled.main+xml").replace(
            "<Default Extension=\"xml\"", "<Default Extension=\"bin\" ContentType=\"application/vnd.ms-office.vbaProject\"/>"
                                          "<Default Extension=\"xml\""),
        "xl/_rels/workbook.xml.rels": lambda x: x.replace("</Relationships>", (
            '<Relationship Id="rId99" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" '
            'Target="vbaProject.bin"/></Relationships>')),
    })


def external_link_xlsx(doc: dict) -> bytes:
    """A workbook linked to another (on a file share and on the web): activity's beneficiaries cell is a
    formula into it, with the value Excel last saw (40) cached beside it."""
    link = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><externalLink xmlns="http://schemas.openxmlformats.org/'
            'spreadsheetml/2006/main"><externalBook xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
            'r:id="rId1"><sheetNames><sheetName val="Sheet1"/></sheetNames></externalBook></externalLink>')
    link_rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                 'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                 'relationships/externalLinkPath" Target="file:///\\\\evil.example\\share\\book.xlsx" TargetMode="External"/>'
                 '</Relationships>')

    def beneficiaries_from_the_link(sheet: str) -> str:
        return re.sub(r'<c r="E2"[^>]*>.*?</c>', '<c r="E2"><f>[1]Sheet1!A1</f><v>40</v></c>', sheet, count=1)

    return _with_members(xlsx_bytes(doc), {"xl/externalLinks/externalLink1.xml": link,
                                           "xl/externalLinks/_rels/externalLink1.xml.rels": link_rels}, {
        "xl/worksheets/sheet1.xml": beneficiaries_from_the_link,
        "xl/workbook.xml": lambda x: x.replace("</sheets>", '</sheets><externalReferences><externalReference r:id="rId98"/>'
                                                             "</externalReferences>"),
        "xl/_rels/workbook.xml.rels": lambda x: x.replace("</Relationships>", '<Relationship Id="rId98" Type="http://schemas.'
                                                          'openxmlformats.org/officeDocument/2006/relationships/externalLink" '
                                                          'Target="externalLinks/externalLink1.xml"/></Relationships>'),
        "[Content_Types].xml": lambda x: x.replace("</Types>", '<Override PartName="/xl/externalLinks/externalLink1.xml" '
                                                   'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
                                                   'externalLink+xml"/></Types>'),
    })


def far_cell_xlsx(doc: dict, ref: str = "XFD1048576") -> bytes:
    """A few kilobytes whose first sheet has one more cell, far away: the grid it implies is rows × columns."""
    row = re.match(r"[A-Z]+([0-9]+)", ref).group(1)
    return _rewrite_member(xlsx_bytes(doc), "xl/worksheets/sheet1.xml",
                           lambda x: x.replace("</sheetData>", f'<row r="{row}"><c r="{ref}"><v>1</v></c></row></sheetData>'))


def zip_bomb_xlsx(doc: dict, expanded_bytes: int) -> bytes:
    """A valid workbook plus a part of zeros that honestly declares its size: it deflates a thousandfold."""
    out = io.BytesIO(xlsx_bytes(doc))
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as dst, dst.open("xl/media/image1.bin", "w", force_zip64=True) as part:
        zeros = b"\0" * (1 << 20)
        for _ in range(expanded_bytes >> 20):
            part.write(zeros)
        part.write(b"\0" * (expanded_bytes & ((1 << 20) - 1)))
    return out.getvalue()


def write_raw(root: Path, unit: bytes, period: bytes, name: bytes, data: bytes) -> str:
    """A drop at names given as bytes (not UTF-8, control characters…); returns the path the pipeline prints."""
    from halfsky.ingest.reading.landing import printable_path

    folder = os.fsencode(root) + b"/" + unit + b"/" + period
    os.makedirs(folder, exist_ok=True)
    with open(folder + b"/" + name, "wb") as fh:
        fh.write(data)
    os.utime(folder + b"/" + name, (ARRIVED.timestamp(),) * 2)
    return printable_path(os.fsdecode(b"/".join((unit, period, name))))


def xlsx_cell(doc: dict, ref: str, inner: str) -> bytes:
    """The doc's workbook with one cell of the first sheet written as given: ``xlsx_cell(doc, "D2", "<v>NaN</v>")``."""
    return _rewrite_member(xlsx_bytes(doc), "xl/worksheets/sheet1.xml",
                           lambda x: re.sub(rf'<c r="{ref}"[^>]*>.*?</c>', f'<c r="{ref}">{inner}</c>', x, count=1))


def xlsx_cells(doc: dict, inner: dict[str, str | tuple[str, str]], sheet: int = 1) -> bytes:
    """The doc's workbook with cells of one sheet written as given: ``{"D2": "<f>1+1</f>"}`` is a formula with no
    computed value, as openpyxl writes it; ``{"G2": ('t="str"', "<f>…</f><v></v>")}`` gives the cell attributes too
    (a reference missing from the sheet is added to its row)."""
    def change(xml: str) -> str:
        for ref, content in inner.items():
            attributes, content = content if isinstance(content, tuple) else ("", content)
            cell = f'<c r="{ref}"{" " + attributes if attributes else ""}>{content}</c>'
            xml, found = re.subn(rf'<c r="{ref}"[^>]*?(?:/>|>.*?</c>)', cell, xml, count=1)
            if not found:
                row = re.match(r"[A-Z]+([0-9]+)", ref).group(1)
                xml = re.sub(rf'(<row r="{row}"[^>]*>.*?)</row>', lambda m: m.group(1) + cell + "</row>", xml, count=1)
        return xml
    return _rewrite_member(xlsx_bytes(doc), f"xl/worksheets/sheet{sheet}.xml", change)


def xlsx_sheet_state(doc: dict, sheet_name: str, state: str, sheet_names: dict[str, list[str]] | None = None) -> bytes:
    """The doc's workbook with one sheet hidden (``state`` hidden or veryHidden) in workbook.xml."""
    return _rewrite_member(xlsx_bytes(doc, sheet_names), "xl/workbook.xml",
                           lambda x: x.replace(f'<sheet name="{sheet_name}" ', f'<sheet name="{sheet_name}" state="{state}" ', 1))


def merged_xlsx(doc: dict, ref: str, sheet: int = 1) -> bytes:
    """The doc's workbook with ``ref`` (e.g. D2:D4) merged in one sheet, as Excel saves it: only the top-left cell
    keeps its value, the others are gone from the sheet."""
    first, last = ref.split(":")
    (c0, r0), (c1, r1) = (re.match(r"([A-Z]+)([0-9]+)", x).groups() for x in (first, last))
    covered = {f"{chr(c)}{r}" for c in range(ord(c0), ord(c1) + 1) for r in range(int(r0), int(r1) + 1)} - {first}

    def change(xml: str) -> str:
        for cell in covered:
            xml = re.sub(rf'<c r="{cell}"[^>]*?(?:/>|>.*?</c>)', "", xml, count=1)
        return xml.replace("</sheetData>", f'</sheetData><mergeCells count="1"><mergeCell ref="{ref}"/></mergeCells>', 1)
    return _rewrite_member(xlsx_bytes(doc), f"xl/worksheets/sheet{sheet}.xml", change)


def xlsx_hidden(doc: dict, rows: tuple[int, ...] = (), columns: tuple[int, ...] = (), sheet: int = 1) -> bytes:
    """The doc's workbook with rows (1-based) and columns (1-based: 6 is F) of one sheet hidden, as Excel saves them."""
    def change(xml: str) -> str:
        for row in rows:  # a row the sheet lacks is added after the others, empty, as Excel saves a hidden blank row
            marked = xml.replace(f'<row r="{row}"', f'<row r="{row}" hidden="1"', 1)
            xml = marked if marked != xml else xml.replace("</sheetData>", f'<row r="{row}" hidden="1"/></sheetData>', 1)
        if columns:
            cols = "".join(f'<col min="{c}" max="{c}" width="0" hidden="1" customWidth="1"/>' for c in columns)
            xml = xml.replace("<sheetData>", f"<cols>{cols}</cols><sheetData>", 1)
        return xml
    return _rewrite_member(xlsx_bytes(doc), f"xl/worksheets/sheet{sheet}.xml", change)


# Drops named with an id number, as senders make them (tests/airflow/test_id_masking.py; the dag site lands them
# too, so its real night is searched for the id in every spelling): the id compact and hyphenated, and an
# unknown folder named by a first-generation card.
ID_IN_NAMES = "150102198503150025"  # valid check digit
OLD_CARD = "150302850315001"  # the same kind of person on a first-generation card
ACCEPTED_ID_NAME = f"王秀英_{ID_IN_NAMES}.json"
REJECTED_ID_NAME = "王秀英 150102-19850315-0025 退回.json"


def id_named_drops(root: Path) -> dict[str, str]:
    """An accepted drop (150300) and a rejected one (150200) named with the id, and an unknown folder named by
    an old card; {drop path: its status}. Units the dag site's sample leaves alone, so it can land them too."""
    write_json(root, "150300", "2026-09", ACCEPTED_ID_NAME,
               valid_doc("150300", "2026-09", counterparty="王秀英 身份证 150302 19850315 000X"))
    bad = valid_doc("150200", "2026-09")
    bad["forms"]["funds"][0]["fund_source_code"] = "NO_SUCH_SOURCE"
    write_json(root, "150200", "2026-09", REJECTED_ID_NAME, bad)
    write_json(root, OLD_CARD, "2026-09", "a.json", valid_doc("150300", "2026-09"))
    return {f"150300/2026-09/{ACCEPTED_ID_NAME}": "accepted", f"150200/2026-09/{REJECTED_ID_NAME}": "rejected",
            f"{OLD_CARD}/2026-09/a.json": "rejected"}
