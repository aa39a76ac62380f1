"""Filling halfsky's workbook template the way a spreadsheet program does, for the template tests: openpyxl
opens the generated workbook, writes rows under the headers and saves it (keeping its dropdowns and rules), and
LibreOffice, where installed, opens and saves it again."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

from halfsky.contract.forms import FLAG, FORMS
from halfsky.portal.workbook_template import FLAG_WORDS


def fill_template(template: bytes, rows_by_form: dict[str, list[dict]]) -> bytes:
    """The template with ``rows_by_form`` ({form: [{field: canonical value}]}) written under each form's header."""
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(template))
    for name, rows in rows_by_form.items():
        write_rows(book[FORMS[name].zh], name, rows)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write_rows(sheet, form_name: str, rows: list[dict]) -> None:
    """``rows`` under row 1 of an openpyxl sheet, a field a column in the form's order (yes/no as 是/否)."""
    form = FORMS[form_name]
    for r, row in enumerate(rows, start=2):
        for c, f in enumerate(form.fields, start=1):
            value = row.get(f.name)
            if f.kind == FLAG and value is not None:
                value = FLAG_WORDS[0] if value else FLAG_WORDS[1]
            if value is not None:
                sheet.cell(row=r, column=c, value=value)


def typed_rows(path: Path, unit: str, period: str) -> dict[str, list[dict]]:
    """A drop's rows as the night types them ({form: [{field: canonical value}]}); it must type without a finding."""
    from halfsky.ingest.judging.row_typing import type_rows
    from halfsky.ingest.reading.drop_reader import read_drop

    out = {}
    for name, table in read_drop(path, unit, period).forms.items():
        typed = type_rows(table, 2)
        assert typed.findings == [], typed.findings[:3]
        out[name] = [dict(zip(typed.values, values)) for values in zip(*typed.values.values())]
    return out


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def saved_by_libreoffice(path: Path, out_dir: Path) -> Path:
    """``path`` opened and saved again as xlsx by headless LibreOffice (recomputing every formula); the copy."""
    out_dir.mkdir(parents=True, exist_ok=True)
    profile = out_dir / "lo-profile"
    subprocess.run([soffice(), f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
                    "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out_dir), str(path)],
                   check=True, capture_output=True, timeout=180)
    return out_dir / path.name
