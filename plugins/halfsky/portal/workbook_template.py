"""A blank report workbook for one reporting unit and one period, built so it cannot easily be filled in wrong.

One sheet per form of the period (monthly: activity, funds, beneficiaries; annual: targets, population, sites,
grassroots), headed by the contract's Chinese names with the field's unit (``受益人次(人次)``), the English name in
each header's note. Every code cell has a dropdown (programs, groups, fund sources, flow types, benefit types,
indicators, population groups, site types, and the regions this unit reports for), and numbers, dates and text
lengths have the contract's rules as Excel data validation, so the mistakes that bounce most drops (a wrong code,
a region outside the unit, a unit in the wrong column, a date outside the month) are refused as they are typed.
A read-me sheet (说明) says what goes where, and a code sheet (代码表) lists every code with its names.

Everything is generated: fields from ``halfsky.contract.forms``, codes from the code lists, regions from the
division list ``dim_region`` is built from. The night's reader skips the two note sheets by name
(``TEMPLATE_NOTE_SHEETS``), so a filled template is judged on its forms alone.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from halfsky.contract.forms import (
    CODE, COUNT, DATE, FLAG, FORMS, GRASSROOTS_TOTALS, ID_NUMBER, MEASURE, MONEY, MONTH, REGION, TEMPLATE_NOTE_SHEETS,
    TEXT, YEAR, Field, Form,
)
from halfsky.contract.periods import SHANGHAI, deadline, is_month, is_year, period_bounds
from halfsky.contract.reference.code_lists import read_seed, reference_data
from halfsky.contract.reference.divisions import all_divisions, allowed_region_codes
from halfsky.contract.reference.romanised_names import english_name

README_SHEET, CODES_SHEET = TEMPLATE_NOTE_SHEETS
OPENING_BALANCE = "OPENING_BALANCE"
# Rows a form's validation covers: far more than any county's month (a line list of 20,000 persons fits).
VALIDATED_ROWS = 20_000
FLAG_WORDS = ("是", "否")

_ENGLISH_KIND = {
    REGION: ("6位区划代码，从下拉列表选择", "6-digit region code, from the dropdown"),
    CODE: ("代码，从下拉列表选择", "a code, from the dropdown"),
    COUNT: ("整数，≥ 0", "a whole number, 0 or more"),
    MEASURE: ("数值，≥ 0，单位见指标", "a number, 0 or more, in the indicator's unit"),
    MONEY: ("金额（元），最多两位小数", "yuan, at most two decimals"),
    DATE: ("日期，须在本报送期内", "a date inside the period"),
    TEXT: ("文本", "text"),
    ID_NUMBER: ("18位身份证号", "18-character id number"),
    FLAG: ("是 或 否", "是 (yes) or 否 (no)"),
}


# What the template does about each rule that bounces drops: refuse the value as it is typed (data validation:
# dropdowns and the number, date, length and key rules below, each computed by LibreOffice in
# tests/unit/test_workbook_template.py), or make the mistake impossible by its layout (sheets, headers and forms
# written for the staff). The upload page adds the rules of the path (it files the drop under the account's unit
# and a period from its list). A rule not named here is not prevented: a required cell left empty, a broken file.
STOPPED_AT_ENTRY = {
    "code_list": "dropdown", "region_outside_prefecture": "dropdown of the unit's regions",
    "unknown_region": "dropdown of the unit's regions", "not_a_county": "dropdown of county-level regions",
    "min_value": "number rule", "type": "number, date or yes/no rule", "unit_mismatch": "number rule",
    "date_outside_period": "date rule", "max_length": "length rule", "duplicate_key": "key rule",
    "duplicate_voucher": "voucher rule", "id_number_check": "check-digit rule", "quantity_without_unit": "quantity rule",
    "exceeds_total": "total rule", "new_exceeds_total": "total rule", "opening_balance_date": "date rule",
    "opening_balance_outside_january": "flow types of the month",
}
PREVENTED_BY_LAYOUT = {"missing_column", "wrong_period_kind", "no_forms", "unknown_form", "misnamed_form",
                       "duplicate_form", "empty_form", "header_mismatch"}
PREVENTED_BY_UPLOAD_PAGE = {"unknown_prefecture", "inactive_prefecture", "malformed_period", "future_period",
                            "unsafe_name"}


@dataclass(frozen=True)
class CodeList:
    """A dropdown's values, where they sit on the code sheet, and the name Excel knows them by."""
    name: str  # halfsky_<list>, a workbook-level defined name
    title_zh: str
    title_en: str
    rows: list[tuple[str, str, str]]  # code, 中文, English


def forms_of(period: str) -> list[Form]:
    kind = MONTH if is_month(period) else YEAR if is_year(period) else None
    if kind is None:
        raise ValueError(f"{period!r} is neither a month (YYYY-MM) nor a year (YYYY)")
    return [f for f in FORMS.values() if f.period_kind == kind]


def header_text(f: Field) -> str:
    """The header a sheet shows: the Chinese name, and the unit when the field has one of its own (the reader
    takes ``受益人次(人次)`` as 受益人次 in person-times; a unit that depends on the row is left out)."""
    fixed_unit = f.unit if f.unit and not f.unit.isascii() else None
    return f"{f.zh}({fixed_unit})" if fixed_unit and not f.zh.endswith(")") else f.zh


def template_file_name(unit_code: str, period: str) -> str:
    return f"halfsky-template-{unit_code}-{period}.xlsx"


def build_template(unit_code: str, period: str) -> bytes:
    """The workbook for ``unit_code`` (a reporting unit) and ``period`` (YYYY-MM or YYYY), as xlsx bytes."""
    import xlsxwriter

    ref = reference_data()
    unit = ref.units.get(unit_code)
    if unit is None:
        raise ValueError(f"{unit_code!r} is not a reporting unit of codes/reporting_units.csv")
    forms = forms_of(period)
    lists = _code_lists(unit_code, period, forms)
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False})
    book.set_properties({"title": f"halfsky {unit_code} {period}", "author": "halfsky 半边天",
                         "comments": "generated from the reporting contract; fill in, do not rename sheets or headers"})
    styles = _Styles(book)
    readme = book.add_worksheet(README_SHEET)
    sheets = [(form, book.add_worksheet(form.zh)) for form in forms]
    codes = book.add_worksheet(CODES_SHEET)
    _write_code_sheet(book, codes, lists, styles)
    for form, sheet in sheets:
        _write_form_sheet(sheet, form, period, lists, styles)
    _write_readme(readme, unit_code, unit.name_zh, period, forms, styles)
    readme.activate()
    book.close()
    return out.getvalue()


def _code_lists(unit_code: str, period: str, forms: list[Form]) -> dict[str, CodeList]:
    wanted = {f.code_list for form in forms for f in form.fields if f.code_list}
    lists: dict[str, CodeList] = {}
    for name in sorted(wanted):
        rows = read_seed(name)
        key = next(iter(rows[0]))
        lists[name] = CodeList(f"halfsky_{name}", name, name,
                               [(r[key].strip(), r.get("name_zh", ""), r.get("name_en", "")) for r in rows])
    if "flow_types" in lists and not period.endswith("-01"):  # an opening balance is sent in January only (v3)
        lists["flow_types"].rows[:] = [r for r in lists["flow_types"].rows if r[0] != OPENING_BALANCE]
    if "programs" in lists:
        with_unit = [r for r in read_seed("programs") if r["quantity_unit"].strip()]
        lists["quantity_programs"] = CodeList("halfsky_quantity_programs", "有数量单位的项目", "programs counted in a unit",
                                              [(r["program_code"], r["name_zh"], f"{r['name_en']} ({r['quantity_unit']})")
                                               for r in with_unit])
    divisions = all_divisions()
    regions = [divisions[code] for code in sorted(allowed_region_codes(unit_code)) if code in divisions]
    lists["regions"] = CodeList("halfsky_regions", "区县代码", "region_code",
                                [(d.code, d.name_zh, english_name(d.name_zh)) for d in regions])
    if any(f.name == "grassroots" for f in forms):  # one row per county-level region (v3, not_a_county)
        lists["counties"] = CodeList("halfsky_counties", "县级区划", "county-level regions",
                                     [(d.code, d.name_zh, english_name(d.name_zh)) for d in regions
                                      if d.level == "county"])
    return lists


class _Styles:
    def __init__(self, book):
        self.header = book.add_format({"bold": True, "bg_color": "#F3E5F5", "border": 1, "text_wrap": True,
                                       "valign": "top"})
        self.text = book.add_format({"num_format": "@"})
        self.count = book.add_format({"num_format": "0"})
        self.money = book.add_format({"num_format": "#,##0.00"})
        self.measure = book.add_format({"num_format": "0.##"})
        self.date = book.add_format({"num_format": "yyyy-mm-dd"})
        self.title = book.add_format({"bold": True, "font_size": 14})
        self.bold = book.add_format({"bold": True})

    def of(self, f: Field):
        return {COUNT: self.count, MONEY: self.money, MEASURE: self.measure, DATE: self.date}.get(f.kind, self.text)


def _write_code_sheet(book, sheet, lists: dict[str, CodeList], styles: _Styles) -> None:
    """Each list in three columns (code, 中文, English) side by side; a defined name over its codes."""
    column = 0
    for code_list in lists.values():
        sheet.write(0, column, f"{code_list.title_zh}" if code_list.title_zh == code_list.title_en
                    else f"{code_list.title_zh} {code_list.title_en}", styles.header)
        sheet.write(0, column + 1, "中文", styles.header)
        sheet.write(0, column + 2, "English", styles.header)
        for i, (code, zh, en) in enumerate(code_list.rows, start=1):
            sheet.write_string(i, column, code)
            sheet.write_string(i, column + 1, zh)
            sheet.write_string(i, column + 2, en)
        letter = _letters(column)
        book.define_name(code_list.name, f"='{CODES_SHEET}'!${letter}$2:${letter}${len(code_list.rows) + 1}")
        sheet.set_column(column, column, 24)
        sheet.set_column(column + 1, column + 1, 18)
        sheet.set_column(column + 2, column + 2, 36)
        column += 4
    sheet.freeze_panes(1, 0)
    sheet.protect("", {"select_locked_cells": True, "select_unlocked_cells": True})


def _write_form_sheet(sheet, form: Form, period: str, lists: dict[str, CodeList], styles: _Styles) -> None:
    columns = {f.name: i for i, f in enumerate(form.fields)}
    for i, f in enumerate(form.fields):
        sheet.write_string(0, i, header_text(f), styles.header)
        sheet.write_comment(0, i, _note(f), {"x_scale": 2.2, "y_scale": 1.4})
        sheet.set_column(i, i, max(12, min(30, 2 * len(header_text(f)) + 2)), styles.of(f))
        validation = _validation(form, f, columns, period, lists)
        if validation:
            validation.setdefault("input_title", f.name[:32])
            validation.setdefault("input_message", _prompt(f))
            validation.setdefault("error_title", "不符合报表要求 Not accepted")
            validation.setdefault("error_type", "stop")
            sheet.data_validation(1, i, VALIDATED_ROWS, i, validation)
    sheet.freeze_panes(1, 0)
    sheet.set_row(0, 36)


def _note(f: Field) -> str:
    zh, en = _ENGLISH_KIND[f.kind]
    need = "必填 required" if f.required else "选填 optional"
    unit = f" · 单位 unit: {f.unit}" if f.unit and not f.unit.isascii() else ""
    limit = f" · ≤ {f.max_length} 字 characters" if f.max_length else ""
    return f"{f.zh} — {f.name}\n{need}{unit}{limit}\n{zh}\n{en}"


def _prompt(f: Field) -> str:
    zh, en = _ENGLISH_KIND[f.kind]
    return f"{f.zh}：{zh}。{'必填' if f.required else '选填'}\n{en}; {'required' if f.required else 'optional'}"[:255]


def _key_guard(form: Form) -> str | None:
    """The field that checks a form's key is not repeated (duplicate_key): the first required number after the key,
    typed once the key's cells are, so the key's own cells keep their dropdowns."""
    if len(form.unique_key) < 1 or form.unique_key == ("voucher_no",):
        return None
    return next((f.name for f in form.fields
                 if f.required and f.name not in form.unique_key and f.kind in (COUNT, MEASURE)), None)


def _validation(form: Form, f: Field, columns: dict[str, int], period: str, lists: dict[str, CodeList]) -> dict | None:
    """The data validation of a column, in Excel's terms; the formulas refer to row 2 and Excel moves them down."""
    def cell(name: str) -> str:
        return f"{_letters(columns[name])}2"

    def whole_column(name: str) -> str:
        return f"${_letters(columns[name])}$2:${_letters(columns[name])}${VALIDATED_ROWS + 1}"

    here = cell(f.name)
    if f.kind in (REGION, CODE):
        counties_only = f.kind == REGION and form.name == "grassroots"  # one row per county-level region (v3)
        source = "halfsky_counties" if counties_only else "halfsky_regions" if f.kind == REGION else \
            lists[f.code_list].name
        what = ("本单位报送范围内的县级区划", "a county-level region this unit reports for") if counties_only else \
            ("本单位报送范围内的区划", "a region this unit reports for") if f.kind == REGION else \
            (f"{f.zh}代码", f"a {f.name}")
        return {"validate": "list", "source": f"={source}",
                "error_message": f"请从下拉列表选择{what[0]}（见“代码表”）。Pick {what[1]} from the dropdown (see the "
                                 "代码表 sheet)."}
    if f.kind == FLAG:
        return {"validate": "list", "source": list(FLAG_WORDS), "error_message": "填 是 或 否。Write 是 (yes) or 否 (no)."}
    if f.kind in (COUNT, MEASURE):
        number = f"ISNUMBER({here}),{here}>=0" + (f",{here}=INT({here})" if f.kind == COUNT else "")
        zh, en = ("只填整数（≥ 0），单位已在表头，不要写“户”“人次”等字样", "A whole number, 0 or more; the unit is in the "
                  "header, do not type it") if f.kind == COUNT else ("只填数字（≥ 0），不要写单位", "A number, 0 or more, "
                                                                     "without a unit")
        total = GRASSROOTS_TOTALS.get(f.name) if form.name == "grassroots" else \
            "total" if (form.name, f.name) == ("sites", "new_this_year") else None
        if total:  # exceeds_total, new_exceeds_total
            number += f",{here}<={cell(total)}"
            zh, en = f"{zh}，且不超过{form.field(total).zh}", f"{en}; at most {total}"
        if f.name == "quantity":  # quantity_without_unit
            number += f",COUNTIF(halfsky_quantity_programs,{cell('program_code')})>0"
            zh, en = f"{zh}；仅限有数量单位的项目（见“代码表”）", f"{en}; only for a program counted in a unit (代码表)"
        if f.name == _key_guard(form):  # duplicate_key
            key = ",".join(f"{whole_column(k)},{cell(k)}" for k in form.unique_key)
            number += f",COUNTIFS({key})=1"
            zh, en = f"{zh}；同一{'、'.join(form.field(k).zh for k in form.unique_key)}只能填一行", \
                f"{en}; one row per {', '.join(form.unique_key)}"
        return {"validate": "custom", "value": f"=AND({number})", "error_message": f"{zh}。{en}."[:255]}
    if f.kind == MONEY:
        rule = f"ISNUMBER({here}),ROUND({here},2)={here}"
        if form.name == "funds":  # > 0, but an opening balance may be 0 (contract v3)
            rule += f",OR({here}>0,AND({here}=0,UPPER({cell('flow_type')})=\"{OPENING_BALANCE}\"))"
        else:
            rule += f",{here}>=0"
        return {"validate": "custom", "value": f"=AND({rule})",
                "error_message": "金额以元计，大于 0（年初结余可为 0），最多两位小数，不要写“元”“万”。Yuan, more than 0 "
                                 "(an opening balance may be 0), at most two decimals, no unit."}
    if f.kind == DATE:
        first, last = period_bounds(period)
        rule = f"ISNUMBER({here}),{here}>=DATE({first.year},{first.month},1),{here}<=DATE({last.year},{last.month},{last.day})"
        zh, en = f"日期须在 {first:%Y-%m-%d} 至 {last:%Y-%m-%d} 之间", f"A date inside the period, {first:%Y-%m-%d} to {last:%Y-%m-%d}"
        if form.name == "funds" and period.endswith("-01"):  # an opening balance is dated 1 January (v3)
            rule += f",OR(UPPER({cell('flow_type')})<>\"{OPENING_BALANCE}\",{here}=DATE({first.year},1,1))"
            zh, en = f"{zh}，年初结余为 1 月 1 日", f"{en}; an opening balance on 1 January"
        return {"validate": "custom", "value": f"=AND({rule})", "error_message": f"{zh}。{en}."}
    if f.kind == ID_NUMBER:  # GB 11643: weights 2^(18-i) mod 11 over the first 17 digits, check character by MOD 11
        digits = 'ROW(INDIRECT("1:17"))'
        return {"validate": "custom",
                "value": f'=AND(LEN({here})=18,MID("10X98765432",MOD(SUMPRODUCT(MID({here},{digits},1)*'
                         f'MOD(2^(18-{digits}),11)),11)+1,1)=UPPER(RIGHT({here})))',
                "error_message": "18位身份证号，末位校验码须正确（末位可为 X）。18 characters whose last one is the "
                                 "right check digit (or X)."}
    if f.name == "voucher_no":  # once in the drop (duplicate_voucher)
        return {"validate": "custom", "value": f"=AND(LEN({here})<={f.max_length},COUNTIF({whole_column(f.name)},{here})=1)",
                "error_message": f"凭证号不能重复，最多 {f.max_length} 个字。Each voucher number once, at most "
                                 f"{f.max_length} characters."}
    if f.kind == TEXT and f.max_length:
        return {"validate": "length", "criteria": "<=", "value": f.max_length,
                "error_message": f"最多 {f.max_length} 个字。At most {f.max_length} characters."}
    return None


def _write_readme(sheet, unit_code: str, unit_name: str, period: str, forms: list[Form], styles: _Styles) -> None:
    due = deadline(period, frozenset(f.name for f in forms)).astimezone(SHANGHAI)
    folder = f"{unit_code}/{period}/"
    lines = [
        (f"半边天 halfsky 报表模板 report template: {unit_code} {unit_name}, {period}", styles.title),
        (f"报送截止 due: {due:%Y-%m-%d %H:%M} (北京时间 Asia/Shanghai)", styles.bold),
        (f"报送位置 where it goes: 上传页面，或落地区文件夹 {folder} / the upload page, or the landing folder {folder}", None),
        ("", None),
        ("填写说明：每张表一行一条记录；代码从下拉列表选择（代码与名称见“代码表”）。", None),
        ("单位已在表头，数字中不要写单位；不要改动工作表名和表头；不用的表留空即可。", None),
        ("How to fill it in: one record a row on each sheet; pick codes from the dropdowns (their names are on the "
         "代码表 sheet).", None),
        ("Units are in the headers, so type numbers only; do not rename sheets or headers; leave a form you have "
         "nothing for empty.", None),
        ("", None),
    ]
    row = 0
    for text, style in lines:
        sheet.write(row, 0, text, style)
        row += 1
    sheet.write_row(row, 0, ("表头 header", "English", "单位 unit", "必填 required", "填写要求", "rule"), styles.header)
    row += 1
    for form in forms:
        sheet.write(row, 0, f"{form.zh} ({form.name})", styles.bold)
        row += 1
        for f in form.fields:
            zh, en = _ENGLISH_KIND[f.kind]
            unit = f.unit if f.unit and not f.unit.isascii() else ("随行而定 per row" if f.unit else "")
            if f.max_length:
                zh, en = f"{zh}，≤ {f.max_length} 字", f"{en}, up to {f.max_length} characters"
            sheet.write_row(row, 0, (header_text(f), f.name, unit, "是 yes" if f.required else "否 no", zh, en))
            row += 1
    sheet.set_column(0, 0, 30)  # not wrapped: the notes above run on over the empty cells beside them
    sheet.set_column(1, 1, 28)
    sheet.set_column(2, 3, 14)
    sheet.set_column(4, 5, 40)


def _letters(column: int) -> str:
    """A 0-based column as Excel names it: 0 -> A, 27 -> AB."""
    letters, column = "", column + 1
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return letters



def main(argv: list[str] | None = None) -> int:
    """``python -m halfsky.portal.workbook_template 654000 2026-09 [-o DIR]``: write a unit's template for a period."""
    import argparse
    from pathlib import Path

    p = argparse.ArgumentParser(prog="python -m halfsky.portal.workbook_template", description=main.__doc__)
    p.add_argument("unit", help="the reporting unit's 6-digit code, e.g. 654000")
    p.add_argument("period", help="YYYY-MM for the monthly forms, YYYY for the annual ones")
    p.add_argument("-o", "--output-dir", type=Path, default=Path("."), help="where to write it (default: here)")
    args = p.parse_args(argv)
    try:
        data = build_template(args.unit, args.period)
    except ValueError as exc:
        p.error(str(exc))
    path = args.output_dir / template_file_name(args.unit, args.period)
    path.write_bytes(data)
    print(f"wrote {path} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
