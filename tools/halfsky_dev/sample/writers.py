"""Write one report as a drop: a folder of CSV files, an xlsx workbook, or a JSON file.

Monthly reports (activity, funds, beneficiaries) and annual ones (targets,
population, sites, grassroots) alike: the forms to write are the caller's choice. Rows are
streamed from the content generators to disk; ``on_row`` sees each canonical
row as it is written so the caller can keep totals. A dirty count carries the
unit of its own field for that row (``field_unit``).
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterable

import xlsxwriter

from halfsky.contract.forms import FORMS, MEASURE, MONEY, UNIT_OF_INDICATOR, UNIT_OF_POPULATION_GROUP, UNIT_OF_PROGRAM, Field
from halfsky.contract.periods import is_year
from halfsky.contract.reference.code_lists import reference_data
from halfsky_dev.sample.cells import clean_cell, dirty_cell, header

QUANTITY_INDICATOR_UNIT = "program quantity_unit"  # indicators.csv: "in the program's own unit"

OnRow = Callable[[str, dict], None]


@dataclass(frozen=True)
class Style:
    dirty: bool = False
    chinese_headers: bool = False
    chinese_sheets: bool = False
    encoding: str = "utf-8"  # utf-8 | utf-8-sig | gb18030
    funds_in_wan: bool = False  # the funds amount column is headed 金额（万元）

    @classmethod
    def pick(cls, dirty: bool, rng: random.Random) -> "Style":
        if not dirty:
            return cls()
        chinese_headers = rng.random() < 0.6
        return cls(
            dirty=True,
            chinese_headers=chinese_headers,
            chinese_sheets=rng.random() < 0.5,
            encoding=rng.choice(["utf-8", "utf-8-sig", "gb18030"]),
            funds_in_wan=chinese_headers and rng.random() < 0.5,  # only a Chinese header can say 万元
        )


def _headers(form: str, style: Style, rng: random.Random) -> list[str]:
    return [
        header(f, style.chinese_headers, rng if style.dirty else None, wan=style.funds_in_wan and form == "funds" and f.kind == MONEY)
        for f in FORMS[form].fields
    ]


def field_unit(f: Field, row: dict) -> str | None:
    """The unit a count (or target) of this row is in: the field's own (人次, 场, 个, 人), the program's
    quantity_unit, the indicator's unit (元 for money), or 户/人 by population group."""
    ref = reference_data()
    unit = f.unit
    if unit == UNIT_OF_INDICATOR:
        unit = ref.indicator_units.get(str(row.get("indicator_code") or "").upper())
        if unit != QUANTITY_INDICATOR_UNIT:
            return unit
        unit = UNIT_OF_PROGRAM
    if unit == UNIT_OF_PROGRAM:
        rules = ref.programs.get(str(row.get("program_code") or "").upper())
        return rules.quantity_unit if rules else None
    if unit == UNIT_OF_POPULATION_GROUP:
        return ref.population_unit(str(row.get("population_group_code") or "").upper())
    return unit


def _cells(form: str, row: dict, style: Style, rng: random.Random) -> list:
    wan = style.funds_in_wan and form == "funds"
    if style.dirty:
        return [dirty_cell(f, row.get(f.name), rng, header_in_wan=wan and f.kind == MONEY,
                           unit=field_unit(f, row) if f.unit else None) for f in FORMS[form].fields]
    return [clean_cell(f, row.get(f.name)) for f in FORMS[form].fields]


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _rows(content, form: str, on_row: OnRow) -> Iterable[dict]:
    for row in content.form_rows(form):
        on_row(form, row)
        yield row


def write_csv_folder(path: Path, content, forms: Iterable[str], style: Style, on_row: OnRow, rng: random.Random) -> None:
    path.mkdir(parents=True)
    for form in forms:
        with (path / f"{form}.csv").open("w", encoding=style.encoding, newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(_headers(form, style, rng))
            for row in _rows(content, form, on_row):
                writer.writerow([_text(c) for c in _cells(form, row, style, rng)])
    manifest = {"submitted_by": f"{content.prefecture} 妇联统计员",
                "notes": f"{content.period} {'年报' if is_year(content.period) else '月报'}"}
    (path / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


def write_xlsx(path: Path, content, forms: Iterable[str], style: Style, on_row: OnRow, rng: random.Random) -> None:
    # constant_memory streams rows to disk: benchmarks write millions of them.
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
    workbook.set_properties({"created": datetime(2026, 1, 1)})  # a fixed date: the same seed writes the same bytes
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    for form in forms:
        sheet = workbook.add_worksheet(FORMS[form].zh if style.chinese_sheets else form)
        sheet.write_row(0, 0, _headers(form, style, rng))
        for r, row in enumerate(_rows(content, form, on_row), start=1):
            for c, value in enumerate(_cells(form, row, style, rng)):
                if isinstance(value, bool):
                    sheet.write_boolean(r, c, value)
                elif isinstance(value, date):
                    sheet.write_datetime(r, c, value, date_format)
                elif FORMS[form].fields[c].kind in (MONEY, MEASURE) and not style.dirty and value != "":
                    sheet.write_number(r, c, float(Decimal(value)))  # how a spreadsheet holds money
                elif isinstance(value, int):
                    sheet.write_number(r, c, value)
                else:
                    sheet.write_string(r, c, value)
    workbook.close()


def write_json(path: Path, content, forms: Iterable[str], style: Style, on_row: OnRow, rng: random.Random) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps({"prefecture_code": content.prefecture, "period": content.period})[:-1])
        fh.write(', "forms": {')
        for i, form in enumerate(forms):
            fh.write(("," if i else "") + json.dumps(form) + ": [")
            keys = _headers(form, style, rng)
            for j, row in enumerate(_rows(content, form, on_row)):
                cells = [c if isinstance(c, int) else _text(c) for c in _cells(form, row, style, rng)]
                fh.write(("," if j else "") + "\n" + json.dumps(dict(zip(keys, cells)), ensure_ascii=False))
            fh.write("]")
        fh.write("}}\n")


WRITERS = {"csv": write_csv_folder, "xlsx": write_xlsx, "json": write_json}
EXTENSIONS = {"csv": "", "xlsx": ".xlsx", "json": ".json"}
