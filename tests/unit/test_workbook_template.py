"""The workbook template (halfsky.portal.workbook_template): its headers are read back as their fields, every code
has its dropdown and the contract's number, date and length rules are there, a template filled with the demo's own
rows (by openpyxl, and saved again by LibreOffice where it is installed) is accepted as it is with the same rows,
and the rules' formulas, computed by LibreOffice, pass the demo's rows and refuse each mistake they are for."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from halfsky.contract.cells import normalise_header, unit_agrees
from halfsky.contract.forms import CODE, FORMS, REGION
from halfsky.contract.reference.divisions import all_divisions, allowed_region_codes
from halfsky.ingest.judging.judge import judge_drop
from halfsky.ingest.reading.drop import header_lookup
from halfsky.portal.workbook_template import (
    CODES_SHEET, README_SHEET, VALIDATED_ROWS, build_template, forms_of, header_text, main,
)
from halfsky_dev.sample.__main__ import main as generate
from template_filling import fill_template, saved_by_libreoffice, soffice, typed_rows, write_rows

AS_OF = datetime(2026, 10, 21, tzinfo=timezone.utc)  # the demo's as-of
UNIT = "654000"  # Ili: reports for its own counties, for 塔城 and 阿勒泰 and theirs


def _book(data: bytes):
    import openpyxl

    return openpyxl.load_workbook(io.BytesIO(data))


@pytest.mark.parametrize("form", list(FORMS.values()), ids=lambda f: f.name)
def test_every_header_is_read_back_as_its_field_in_its_unit(form):
    lookup = header_lookup(form)
    for f in form.fields:
        key, _, unit = normalise_header(header_text(f))
        assert lookup.get(key) is f, header_text(f)
        assert unit_agrees(unit, f.unit if f.unit and not f.unit.isascii() else None), header_text(f)
    assert header_text(form.field("beneficiaries") if form.name == "activity" else form.fields[0]) in (
        "受益人次(人次)", "区县代码")


def test_a_monthly_template_has_the_months_forms_their_dropdowns_and_rules():
    book = _book(build_template(UNIT, "2026-09"))
    assert book.sheetnames == [README_SHEET, "项目活动", "资金收支", "受益人明细", CODES_SHEET]
    regions = sorted(allowed_region_codes(UNIT))
    assert len(regions) == 28 and "654200" in regions and "654300" in regions  # 州直, 塔城, 阿勒泰 and their counties
    names = book.defined_names
    codes = book[CODES_SHEET]

    def listed(name: str) -> list[str]:
        sheet_ref = names[name].attr_text.split("!")[1].replace("$", "")
        return [c.value for (c,) in codes[sheet_ref]]

    assert listed("halfsky_regions") == regions
    assert "OPENING_BALANCE" not in listed("halfsky_flow_types")  # only January's drop may hold one (v3)
    assert "OPENING_BALANCE" in _listed_in(build_template(UNIT, "2026-01"), "halfsky_flow_types")
    for form in forms_of("2026-09"):
        sheet = book[form.zh]
        assert [c.value for c in sheet[1]] == [header_text(f) for f in form.fields]
        assert all(sheet.cell(1, i + 1).comment and f.name in sheet.cell(1, i + 1).comment.text
                   for i, f in enumerate(form.fields)), "each header's note gives its English name"
        rules = {str(dv.sqref).split(":")[0]: dv for dv in sheet.data_validations.dataValidation}
        for i, f in enumerate(form.fields):
            letter = sheet.cell(1, i + 1).column_letter
            dv = rules.get(f"{letter}2")
            if f.kind in (REGION, CODE):
                assert dv is not None and dv.type == "list" and dv.formula1.startswith("halfsky_"), f.name
                assert str(dv.sqref) == f"{letter}2:{letter}{VALIDATED_ROWS + 1}"
            elif f.name not in ("remarks",) or f.max_length:
                assert dv is not None and dv.showErrorMessage and dv.errorStyle in (None, "stop"), f.name


def _listed_in(data: bytes, name: str) -> list[str]:
    book = _book(data)
    ref = book.defined_names[name].attr_text.split("!")[1].replace("$", "")
    return [c.value for (c,) in book[CODES_SHEET][ref]]


def test_an_annual_template_lists_only_counties_for_grassroots():
    data = build_template(UNIT, "2026")
    book = _book(data)
    assert book.sheetnames == [README_SHEET, "年度任务", "人口基数", "阵地组织", "基层组织覆盖", CODES_SHEET]
    divisions = all_divisions()
    counties = _listed_in(data, "halfsky_counties")
    assert counties and all(divisions[c].level == "county" for c in counties)
    assert {"654000", "654200", "654300"}.isdisjoint(counties)
    region_rule = next(dv for dv in book["基层组织覆盖"].data_validations.dataValidation
                       if str(dv.sqref).startswith("A2"))
    assert region_rule.formula1 == "halfsky_counties"


def test_the_command_writes_a_template_and_refuses_an_unknown_unit(tmp_path, capsys):
    assert main([UNIT, "2026-09", "-o", str(tmp_path)]) == 0
    assert (tmp_path / f"halfsky-template-{UNIT}-2026-09.xlsx").stat().st_size > 10_000
    with pytest.raises(SystemExit):
        main(["999999", "2026-09", "-o", str(tmp_path)])
    assert "not a reporting unit" in capsys.readouterr().err


@pytest.fixture(scope="module")
def demo_tree(tmp_path_factory):
    """The demo's own sample (make demo's arguments): its landing tree and truth."""
    root = tmp_path_factory.mktemp("demo") / "land"
    truth_path = root.with_name("truth.json")
    assert generate([str(root), "--prefectures", "6", "--months", "3", "--prior-year", "--dirty", "--invalid", "all",
                     "--resubmissions", "2", "--duplicates", "1", "--with-warnings", "--force",
                     "--truth", str(truth_path)]) == 0
    return root, json.loads(truth_path.read_text(encoding="utf-8"))


def _demo_drops(truth, unit: str) -> list[dict]:
    return [d for d in truth["drops"] if d["prefecture_code"] == unit and d["expected_status"] == "accepted"]


def test_a_template_filled_with_the_demos_rows_is_accepted_as_it_is(demo_tree, tmp_path):
    root, truth = demo_tree
    drops = _demo_drops(truth, UNIT)
    assert {len(d["period"]) for d in drops} == {4, 7}, "monthly and annual drops of the unit"
    for d in drops:
        rows = typed_rows(root / d["path"], UNIT, d["period"])
        filled = tmp_path / UNIT / d["period"] / "filled.xlsx"
        filled.parent.mkdir(parents=True, exist_ok=True)
        filled.write_bytes(fill_template(build_template(UNIT, d["period"]), rows))
        verdict = judge_drop(filled, UNIT, d["period"], received_at=AS_OF, as_of=AS_OF)
        assert verdict.accepted, (d["path"], verdict.reasons())
        assert not [w for w in verdict.warnings if w.rule == "unknown_sheet"], "the note sheets are skipped"
        assert typed_rows(filled, UNIT, d["period"]) == {name: rows.get(name, []) for name in verdict.forms}, d["path"]


@pytest.mark.skipif(soffice() is None, reason="LibreOffice is not installed (Debian: apt-get install libreoffice-calc)")
def test_a_filled_template_saved_by_libreoffice_is_accepted_with_the_same_rows(demo_tree, tmp_path):
    root, truth = demo_tree
    d = next(d for d in _demo_drops(truth, UNIT) if d["period"] == "2026-09")
    rows = typed_rows(root / d["path"], UNIT, d["period"])
    filled = tmp_path / "filled.xlsx"
    filled.write_bytes(fill_template(build_template(UNIT, d["period"]), rows))
    resaved = saved_by_libreoffice(filled, tmp_path / UNIT / d["period"])
    verdict = judge_drop(resaved, UNIT, d["period"], received_at=AS_OF, as_of=AS_OF)
    assert verdict.accepted, verdict.reasons()
    assert typed_rows(resaved, UNIT, d["period"]) == rows
    assert len(_book(resaved.read_bytes())["资金收支"].data_validations.dataValidation) >= 8, "LibreOffice kept the rules"


def _rule_results(template: bytes, tmp_path: Path, cases: list[tuple[str, list[dict]]]) -> list[list[dict]]:
    """For each (form, rows) case: each custom rule of the form's sheet, computed by LibreOffice for each row, the
    rule's formula put in a cell to the right of the row (Excel's data validation computes the same formula for
    the cell typed). Every case is a sheet of its own in one workbook: one LibreOffice run for all of them."""
    import openpyxl
    from python_calamine import CalamineWorkbook

    book = openpyxl.load_workbook(io.BytesIO(template))
    layouts = []
    for i, (form_name, rows) in enumerate(cases):
        form = FORMS[form_name]
        rules = {str(dv.sqref).split(":")[0].rstrip("0123456789"): dv.formula1
                 for dv in book[form.zh].data_validations.dataValidation if dv.type == "custom"}
        sheet = book.create_sheet(f"case{i}")  # the rules' references are relative or to defined names: any sheet
        for k, header in enumerate(book[form.zh][1], start=1):
            sheet.cell(1, k, value=header.value)
        write_rows(sheet, form_name, rows)
        first_free = len(form.fields) + 2
        for j, (column, formula) in enumerate(sorted(rules.items())):
            for r in range(2, len(rows) + 2):
                # The rule as written for row 2, moved to row r as Excel moves it (relative references only).
                sheet.cell(r, first_free + j, value="=" + _moved(formula, r))
        fields = {book[form.zh].cell(1, k + 1).column_letter: f.name for k, f in enumerate(form.fields)}
        layouts.append((sheet.title, rows, sorted(rules), fields, first_free))
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "rules.xlsx"
    book.save(path)
    computed = CalamineWorkbook.from_path(str(saved_by_libreoffice(path, tmp_path / "computed")))
    results = []
    for title, rows, columns, fields, first_free in layouts:
        grid = computed.get_sheet_by_name(title).to_python(skip_empty_area=False)
        # Excel checks what is typed: an empty cell is never refused (ignore_blank), so its rule is not read here.
        results.append([{fields[c]: grid[r - 1][first_free - 1 + j] for j, c in enumerate(columns)
                         if rows[r - 2].get(fields[c]) is not None} for r in range(2, len(rows) + 2)])
    return results


def _moved(formula: str, row: int) -> str:
    import re

    return re.sub(r"(?<![$A-Z])([A-Z]{1,2})2(?![0-9])", lambda m: f"{m.group(1)}{row}", formula)


@pytest.mark.skipif(soffice() is None, reason="LibreOffice is not installed (Debian: apt-get install libreoffice-calc)")
def test_the_rules_pass_the_demos_rows_and_refuse_the_mistakes_that_bounce_drops(demo_tree, tmp_path):
    root, truth = demo_tree
    d = next(d for d in _demo_drops(truth, UNIT) if d["period"] == "2026-09")
    rows = typed_rows(root / d["path"], UNIT, d["period"])
    template = build_template(UNIT, "2026-09")
    activity, funds, people = rows["activity"][0], rows["funds"][0], rows["beneficiaries"][0]
    bad_activity = [
        activity,
        {**activity, "beneficiaries": -3},                                   # min_value
        {**activity, "quantity": 5, "program_code": "TWO_CANCER_SCREEN"},   # quantity_without_unit
        activity,                                                            # duplicate_key, with the first row
    ]
    bad_funds = [
        {**funds, "voucher_no": "V-1", "amount_yuan": Decimal("0")},        # min_value (0 only for an opening balance)
        {**funds, "voucher_no": "V-2", "amount_yuan": Decimal("10.005")},   # more than the fen
        {**funds, "voucher_no": "V-3", "txn_date": datetime(2026, 10, 1).date()},  # date_outside_period
        {**funds, "voucher_no": "V-3"},                                      # duplicate_voucher
    ]
    wrong_digit = people["id_number"][:17] + ("0" if people["id_number"][17] != "0" else "1")
    good = [(name, rows[name][:3]) for name in ("activity", "funds", "beneficiaries")]
    *good_results, on_activity, on_funds, on_people = _rule_results(template, tmp_path, [
        *good, ("activity", bad_activity), ("funds", bad_funds),
        ("beneficiaries", [people, {**people, "id_number": wrong_digit}])])  # id_number_check
    for (name, _), results in zip(good, good_results):
        assert all(v is True for r in results for v in r.values()), (name, results)

    assert on_activity[1]["beneficiaries"] is False
    assert on_activity[2]["quantity"] is False
    assert on_activity[3]["beneficiaries"] is False and on_activity[0]["beneficiaries"] is False  # the key repeats
    assert [r["amount_yuan"] for r in on_funds] == [False, False, True, True]
    assert [r["txn_date"] for r in on_funds] == [True, True, False, True]
    assert [r["voucher_no"] for r in on_funds] == [True, True, False, False]
    assert [r["id_number"] for r in on_people] == [True, False]
