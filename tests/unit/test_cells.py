"""Each cell form the contract allows is read to the exact canonical value."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from halfsky.contract import cells, id_numbers
@pytest.mark.parametrize("cell, scale, expected", [
    ("1234.56", 1, "1234.56"),
    ("1,778,000", 1, "1778000.00"),
    ("１２３４．５", 1, "1234.50"),
    ("1.2万", 1, "12000.00"),
    ("1470.17万元", 1, "14701700.00"),
    ("3亿", 1, "300000000.00"),
    ("500元", 1, "500.00"),
    ("0.123456", 10000, "1234.56"),  # under a 金额(万元) header
    ("500元", 10000, "500.00"),  # the cell's own unit wins over the header's
    (1234.56, 1, "1234.56"),  # a spreadsheet float, read through its shortest repr
    (0.1 + 0.2, 1, None),  # 0.30000000000000004 is not money to the fen
    (Decimal("99.9"), 1, "99.90"),  # JSON number parsed as Decimal
    (12, 10000, "120000.00"),
])
def test_money(cell, scale, expected):
    if expected is None:
        with pytest.raises(cells.CellError):
            cells.parse_money(cell, Decimal(scale))
    else:
        assert cells.parse_money(cell, Decimal(scale)) == Decimal(expected)


@pytest.mark.parametrize("cell", ["abc", "12.345", "1.2.3", "¥", "12,34x"])
def test_money_rejects(cell):
    with pytest.raises(cells.CellError):
        cells.parse_money(cell)


@pytest.mark.parametrize("cell, expected", [
    ("27600", 27600), ("2.76万人次", 27600), ("12人", 12), ("３場", None), ("３场", 3), ("5户", 5), ("7个", 7),
    ("1,200人次", 1200), (42, 42), ("-3", -3), ("2.5", None), ("many", None),
])
def test_counts(cell, expected):
    if expected is None:
        with pytest.raises(cells.CellError):
            cells.parse_count(cell)
    else:
        assert cells.parse_count(cell) == expected


@pytest.mark.parametrize("cell, expected", [
    ("2026-10-05", date(2026, 10, 5)), ("2026/10/5", date(2026, 10, 5)), ("2026年10月5日", date(2026, 10, 5)),
    ("２０２６年１０月５日", date(2026, 10, 5)), (46300, date(2026, 10, 5)), ("46300", date(2026, 10, 5)),
    (datetime(2026, 10, 5, 0, 0), date(2026, 10, 5)), (date(2026, 10, 5), date(2026, 10, 5)),
])
def test_dates(cell, expected):
    assert cells.parse_date(cell) == expected


@pytest.mark.parametrize("cell", ["2026-02-30", "yesterday", "10/5/2026", "2026年13月1日"])
def test_dates_rejected(cell):
    with pytest.raises(cells.CellError):
        cells.parse_date(cell)


def test_codes_regions_and_headers():
    assert cells.parse_code("  two_cancer_screen ") == "TWO_CANCER_SCREEN"
    assert cells.parse_region(150102.0) == "150102" and cells.parse_region(" 150102") == "150102"
    with pytest.raises(cells.CellError):
        cells.parse_region("15010")
    assert cells.normalise_header(" 金额（万元） ") == ("金额", Decimal(10000), "元")
    assert cells.normalise_header("金额 (元)") == ("金额", Decimal(1), "元")
    assert cells.normalise_header("Region_Code") == ("region_code", Decimal(1), None)
    assert cells.normalise_header("受益人次（户）") == ("受益人次", Decimal(1), "户")


@pytest.mark.parametrize("header", ['"两委"有女性成员的村(社区)数', "“两委”有女性成员的村（社区）数", "＂两委＂有女性成员的村(社区)数",
                                    "‘两委’有女性成员的村(社区)数", "两委有女性成员的村(社区)数", ' "两委" 有女性成员的村(社区)数(个)'])
def test_quotation_marks_around_a_term_are_typography_not_part_of_the_header(header):
    # contract v3: grassroots headers match with or without the quotes around 两委, ASCII or full-width
    assert cells.normalise_header(header)[0] == "两委有女性成员的村(社区)数"


def test_id_number_check_digit():
    first17 = "65400219900307002"
    good = first17 + id_numbers.check_digit(first17)
    assert id_numbers.is_valid(good) and id_numbers.is_valid(good.lower())
    assert not id_numbers.is_valid(good[:-1] + ("0" if good[-1] != "0" else "1"))
    assert not id_numbers.is_valid("654002199002300021")  # February 30th
    assert id_numbers.gender(good) == "F" and id_numbers.birth_year(good) == 1990


@pytest.mark.parametrize("cell, expected", [
    ("120户", (120, "户")), ("2.76万人次", (27_600, "人次")), ("3场", (3, "场")), ("50口", (50, "口")),
    ("７件", (7, "件")), ("12例", (12, "例")), ("2期", (2, "期")), (40, (40, None)), ("1,200", (1200, None)),
])
def test_counts_keep_the_unit_they_were_written_in(cell, expected):
    assert cells.parse_count_with_unit(cell) == expected


@pytest.mark.parametrize("written, field_unit, agrees", [
    ("户", "人次", False), ("人次", "人次", True), ("次", "人次", True), ("人", "人次", False), (None, "人次", True),
    ("个", "个", True), ("口", "个", False), ("次", "场", True),
])
def test_a_written_unit_must_be_the_fields_unit(written, field_unit, agrees):
    assert cells.unit_agrees(written, field_unit) is agrees


@pytest.mark.parametrize("cell, expected", [
    ("12万", (Decimal("120000.00"), None)), ("1.5亿元", (Decimal("150000000.00"), "元")), ("2.76万人次", (Decimal("27600.00"), "人次")),
    ("300个", (Decimal("300.00"), "个")), (500, (Decimal("500.00"), None)), ("0.5", (Decimal("0.50"), None)),
])
def test_a_target_is_a_number_in_a_unit(cell, expected):
    assert cells.parse_measure(cell) == expected


def test_a_target_in_a_ten_thousand_yuan_column_is_scaled():
    assert cells.parse_measure("8", Decimal(10_000)) == (Decimal("80000.00"), None)
    assert cells.parse_measure("8万", Decimal(10_000)) == (Decimal("80000.00"), None)  # the cell's own unit wins


@pytest.mark.parametrize("cell, expected", [("是", True), ("否", False), ("TRUE", True), ("false", False), (1, True), ("0", False),
                                            (True, True)])
def test_in_kind_flags(cell, expected):
    assert cells.parse_flag(cell) is expected


@pytest.mark.parametrize("cell", ["也许", "2", "yes please"])
def test_a_flag_that_is_neither_yes_nor_no_is_a_type_error(cell):
    with pytest.raises(cells.CellError):
        cells.parse_flag(cell)


# Issue 22: a separator anywhere but between groups of three digits changed amounts by orders of magnitude
# ("1 234,50" loaded as 123,450.00). Only a valid grouping is read; spaces never separate digits.
WELL_GROUPED = [
    ("1,778,000", "1778000.00"), ("１，７７８，０００", "1778000.00"), ("12,345.67", "12345.67"), ("-1,234.50", "-1234.50"),
    ("999,999", "999999.00"), ("1,234.5万", "12345000.00"), ("1,234.50元", "1234.50"), ("１，２３４．５万元", "12345000.00"),
    ("500 元", "500.00"), ("1.2 万", "12000.00"), ("1,000,000", "1000000.00"), ("1,234 万", "12340000.00"),
]
MISPLACED_SEPARATORS = ["1 234,50", "1,2,3", "12,34万", "1234,50", "1,23", ",123", "123,", "1,,234", "1,234,5", "1 234",
                        "1,234 567", "1.234,50", "12,3456", "1234,567", "1,234.567,8", "１ ２３４", "1\u00a0234", "1\u2009234",
                        "1\u3000234", "1,234.5,6万", "- 5", "1 000万"]


@pytest.mark.parametrize("cell, expected", WELL_GROUPED)
def test_an_amount_grouped_by_thousands_is_read(cell, expected):
    assert cells.parse_money(cell) == Decimal(expected)


@pytest.mark.parametrize("cell", MISPLACED_SEPARATORS)
def test_a_separator_out_of_place_is_a_type_error_not_another_amount(cell):
    for parse in (cells.parse_money, cells.parse_count, cells.parse_measure):
        with pytest.raises(cells.CellError) as raised:
            parse(cell)
        assert raised.value.rule == "type", (parse.__name__, cell)


@pytest.mark.parametrize("cell, expected", [
    ("1,200人次", (1200, "人次")), ("１，２００人", (1200, "人")), ("12,345", (12345, None)), ("1,234.5万人次", (12_345_000, "人次")),
    ("-1,200", (-1200, None)), ("3 场", (3, "场")),
])
def test_a_count_grouped_by_thousands_is_read(cell, expected):
    assert cells.parse_count_with_unit(cell) == expected


@pytest.mark.parametrize("cell, expected", [
    ("1,234.5万", (Decimal("12345000.00"), None)), ("1,500,000元", (Decimal("1500000.00"), "元")), ("2,000个", (Decimal("2000.00"), "个")),
])
def test_a_target_grouped_by_thousands_is_read(cell, expected):
    assert cells.parse_measure(cell) == expected


def test_a_misplaced_separator_under_a_ten_thousand_yuan_header_is_a_type_error_too():
    assert cells.parse_money("1,234.5", Decimal(10_000)) == Decimal("12345000.00")
    with pytest.raises(cells.CellError):
        cells.parse_money("12,34", Decimal(10_000))
    with pytest.raises(cells.CellError):
        cells.parse_measure("12,34", Decimal(10_000))


@pytest.mark.parametrize("kind_field", [("funds", "amount_yuan"), ("activity", "events"), ("targets", "target_value")])
def test_in_a_long_column_a_misplaced_separator_takes_the_exact_lane_and_is_named(kind_field):
    """Forms over SMALL_FORM_ROWS rows are typed by the vectorised plain lane: its patterns must let no separator
    through, so the exact lane reports the cell with its row and field."""
    import polars as pl

    from halfsky.ingest.reading.drop import FormTable
    from halfsky.contract.forms import FORMS
    from halfsky.ingest.judging.row_typing import SMALL_FORM_ROWS, type_rows

    form_name, field_name = kind_field
    form = FORMS[form_name]
    column = ["12"] * (SMALL_FORM_ROWS + 50)
    column[7], column[30], column[60] = "1 234,50", "1,234", "12,34万"
    table = FormTable(form, [form.field(field_name)], [Decimal(1)], [None], [pl.Series(column, dtype=pl.String)], len(column))
    typed = type_rows(table, 2)
    assert [(f.rule, f.row_number, f.field, f.value) for f in typed.findings] == [
        ("type", 9, field_name, "1 234,50"), ("type", 62, field_name, "12,34万")]
    assert typed.values[field_name][30] == 1234 and typed.values[field_name][7] is None


# Workbook cells that are no text: what calamine gives for numbers, TRUE/FALSE and date cells, odd ones included.
_WORKBOOK_CELLS = {
    # 0.35000000000000003 is =0.05*7 as a workbook stores it: not a whole fen, one float step above 0.35
    ("funds", "amount_yuan"): [407.8, 0.1 + 0.2, 0.05 * 7, 0.47, 779.05, 0.69, 10.005, 0.0, -0.0, -5.0, 1e12 - 0.01,
                               999_999_999_999.99, 1e12, 1e16,
                               1e20, 0.015, 123.456, 5e-324, float("nan"), float("inf"), 2.0 ** 53, 7, "475.27", None, True],
    ("activity", "events"): [3.0, 0.0, -1.0, 2.5, 1e15, 2.0 ** 53, 2.0 ** 53 + 2, 1e19, float("nan"), "12", None, False],
    ("funds", "in_kind"): [True, False, 1.0, 0.0, 2.0, "是", None],
    ("funds", "txn_date"): [date(2026, 9, 3), datetime(2026, 9, 4, 13, 30), 46268.0, 0.5, "2026-09-05", None],
}


@pytest.mark.parametrize("form_field", list(_WORKBOOK_CELLS))
def test_a_long_workbook_column_is_typed_as_the_exact_lane_types_each_cell(form_field):
    """Over SMALL_FORM_ROWS rows a workbook's numbers, flags and dates are typed column-wise
    (row_typing._workbook_values): every value, unit and finding is the one the exact lane gives cell by cell."""
    from halfsky.contract.forms import FORMS
    from halfsky.ingest.judging.row_typing import SMALL_FORM_ROWS, _workbook_values, type_rows
    from halfsky.ingest.reading.drop import FormTable

    form = FORMS[form_field[0]]
    f = form.field(form_field[1])
    odd = _WORKBOOK_CELLS[form_field]
    column = (odd * (SMALL_FORM_ROWS // len(odd) + 2))[:SMALL_FORM_ROWS + len(odd)]
    taken, _ = _workbook_values(f, {k: c for k, c in enumerate(column) if c is not None and type(c) is not str})
    assert 0 < len(taken) < len(column), "the column-wise lane takes some cells, the exact lane the others"

    def typed(cells):
        table = FormTable(form, [f], [Decimal(1)], [None], [cells], len(cells))
        result = type_rows(table, 2)
        return result.values[f.name], [(x.rule, x.row_number, x.value) for x in result.findings]

    long_values, long_findings = typed(column)
    each = [typed([cell]) for cell in column]  # one row: the exact lane
    assert long_values == [values[0] for values, _ in each]
    assert long_findings == [(rule, row + k, value) for k, (_, found) in enumerate(each) for rule, row, value in found]
    assert long_findings, "the odd cells are reported"
