"""Turn one cell, as a prefecture wrote it, into a canonical value, exactly.

Every function returns the canonical value or raises CellError; none uses
binary floating point for money (a float from a spreadsheet is read through its
shortest decimal repr, which is what the user typed).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta
from decimal import Decimal

CENT = Decimal("0.01")
WAN, YI = Decimal(10_000), Decimal(100_000_000)
_EXCEL_EPOCH = date(1899, 12, 30)  # Excel's day 0, allowing for its 1900 leap-year bug

# A number as written: plain digits, or digits grouped by thousands with commas (1,778,000; NFKC makes the
# full-width ，and digits plain), then perhaps decimals. A comma anywhere else, or a space between digits, is no
# number: "1 234,50" or "12,34万" cannot be told from another amount, so it is a type error, never read by deleting
# the separators. Spaces may stand only between the number and its unit ("500 元").
_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_MONEY = re.compile(rf"^([+-]?{_NUMBER}) *(万元|万|亿元|亿|元)?$")
# The units a count may carry (contract: Cells). Longest first, so 人次 is not read as 人 + 次.
COUNT_UNITS = ("人次", "人", "户", "场", "个", "口", "件", "例", "期", "次")
_UNIT = "|".join(COUNT_UNITS)
_COUNT = re.compile(rf"^(-?)({_NUMBER}) *(万)?({_UNIT})?$")
# A measure (a target) is a number in its indicator's unit: yuan with 万/亿, or a count unit.
_MEASURE = re.compile(rf"^(-?)({_NUMBER}) *(万|亿)?(元|{_UNIT})?$")
FLAG_WORDS = {"是": True, "否": False, "true": True, "false": False, "1": True, "0": False, "yes": True, "no": False,
          "y": True, "n": False}
_DATE_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$")
_DATE_ZH = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$")
_EXCEL_SERIAL = re.compile(r"^\d{5}(?:\.0+)?$")
_HEADER_UNIT = re.compile(rf"\((万元|元|亿元|{_UNIT})\)$")
_HEADER_SCALES = {"万元": (Decimal(10_000), "元"), "亿元": (Decimal(100_000_000), "元"), "元": (Decimal(1), "元")}


# What raw's columns hold: numeric(18,2) and bigint. Larger is an error, never an overflow at COPY.
MAX_MONEY = Decimal(10) ** 16
MAX_COUNT = 2**63 - 1


class CellError(ValueError):
    """A cell that is not of its field's type; ``rule`` says which finding it becomes."""

    def __init__(self, message: str, rule: str = "type"):
        super().__init__(message)
        self.rule = rule


def _digits(number: str) -> Decimal:
    """A number _NUMBER matched, without its thousands separators."""
    return Decimal(number.replace(",", ""))


def _not_a_number(text: str, what: str) -> CellError:
    """The type error for a cell no pattern reads; it says so when a separator is what is wrong."""
    if "," in text or re.search(r"\d\s+\d", text):
        return CellError(f"{what}: a thousands separator must be a comma between groups of three digits (1,778,000)")
    return CellError(what)


def normalise_text(value: object) -> str:
    """Full-width to half-width (NFKC), trimmed: '１２３' -> '123', '（' -> '('.

    NaN (a workbook can hold it) is the text 'nan', not a blank: an amount or count spelt so is a type
    error, never a missing value or an optional count's default 0."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return unicodedata.normalize("NFKC", str(value)).strip()


def _number(value: float | Decimal) -> Decimal:
    """A number from a workbook (float, read through its shortest repr) or JSON (Decimal) as an exact Decimal:
    1e3 is 1000; NaN and infinities are no number."""
    number = Decimal(repr(value)) if isinstance(value, float) else value
    if not number.is_finite():
        raise CellError("not a finite number")
    return number


def is_blank(value: object) -> bool:
    return normalise_text(value) == ""


def parse_money(value: object, header_scale: Decimal = Decimal(1)) -> Decimal:
    """Yuan to the fen. ``header_scale`` is 10000 when the column is headed 金额(万元)."""
    if isinstance(value, bool):
        raise CellError("not an amount")
    if isinstance(value, int):
        amount = Decimal(value) * header_scale
    elif isinstance(value, (float, Decimal)):
        amount = _number(value)
        if abs(amount) >= MAX_MONEY:  # 1e400 before it is scaled or rounded
            raise CellError("over 9,999,999,999,999,999.99 yuan", rule="out_of_range")
        amount *= header_scale
    else:
        text = normalise_text(value)
        match = _MONEY.match(text)
        if not match:
            raise _not_a_number(text, "not an amount")
        unit = match.group(2)
        scale = {"万": WAN, "万元": WAN, "亿": YI, "亿元": YI, "元": Decimal(1)}.get(unit, header_scale) if unit else header_scale
        amount = _digits(match.group(1)) * scale
    if abs(amount) >= MAX_MONEY:
        raise CellError("over 9,999,999,999,999,999.99 yuan", rule="out_of_range")
    if amount != amount.quantize(CENT):
        raise CellError("more precise than a fen")
    return amount.quantize(CENT)


def parse_count(value: object) -> int:
    return parse_count_with_unit(value)[0]


def parse_count_with_unit(value: object) -> tuple[int, str | None]:
    """A whole number and the unit written after it, if any: '2.76万人次' -> (27600, '人次')."""
    if isinstance(value, bool):
        raise CellError("not a count")
    if isinstance(value, int):
        return _bounded_count(value), None
    if isinstance(value, (float, Decimal)):
        number = _number(value)
        if abs(number) > MAX_COUNT:
            raise CellError(f"over {MAX_COUNT:,}", rule="out_of_range")
        if number != number.to_integral_value():
            raise CellError("not a whole number")
        return int(number), None
    text = normalise_text(value)
    match = _COUNT.match(text)
    if not match:
        raise _not_a_number(text, "not a whole number")
    # The sign is kept so the min-value rule, not the type rule, reports it.
    number = (-1 if match.group(1) else 1) * _digits(match.group(2)) * (WAN if match.group(3) else 1)
    if number != number.to_integral_value():
        raise CellError("not a whole number")
    return _bounded_count(int(number)), match.group(4)


def parse_measure(value: object, header_scale: Decimal = Decimal(1)) -> tuple[Decimal, str | None]:
    """A target: a number ≥ 0 to the hundredth, in yuan (万/亿 scale it) or a count unit; and the unit written."""
    if isinstance(value, bool):
        raise CellError("not a number")
    if isinstance(value, int):
        number, unit = Decimal(value) * header_scale, None
    elif isinstance(value, (float, Decimal)):
        number, unit = _number(value), None
        if abs(number) >= MAX_MONEY:
            raise CellError("over 9,999,999,999,999,999.99", rule="out_of_range")
        number *= header_scale
    else:
        text = normalise_text(value)
        match = _MEASURE.match(text)
        if not match:
            raise _not_a_number(text, "not a number")
        sign = -1 if match.group(1) else 1
        scale = {"万": WAN, "亿": YI}.get(match.group(3), header_scale if not match.group(3) else Decimal(1))
        number, unit = sign * _digits(match.group(2)) * scale, match.group(4)
    if abs(number) >= MAX_MONEY:
        raise CellError("over 9,999,999,999,999,999.99", rule="out_of_range")
    if number != number.quantize(CENT):
        raise CellError("more precise than a hundredth")
    return number.quantize(CENT), unit


def parse_flag(value: object) -> bool:
    """是/否, true/false, 1/0 (and yes/no)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    flag = FLAG_WORDS.get(normalise_text(value).lower())
    if flag is None:
        raise CellError("not yes or no (是/否, true/false, 1/0)")
    return flag


def _bounded_count(value: int) -> int:
    if abs(value) > MAX_COUNT:
        raise CellError(f"over {MAX_COUNT:,}", rule="out_of_range")
    return value


def parse_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _from_excel_serial(float(value))
    text = normalise_text(value)
    for pattern in (_DATE_ISO, _DATE_ZH):
        match = pattern.match(text)
        if match:
            try:
                return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
            except ValueError as exc:
                raise CellError("not a real date") from exc
    if _EXCEL_SERIAL.match(text):
        return _from_excel_serial(float(text))
    raise CellError("not a date")


def _from_excel_serial(serial: float) -> date:
    if not 1 <= serial < 2958466 or serial != int(serial):
        raise CellError("not a date")
    return _EXCEL_EPOCH + timedelta(days=int(serial))


def parse_code(value: object) -> str:
    """Codes match case-insensitively after trimming."""
    return normalise_text(value).upper()


def parse_region(value: object) -> str:
    if isinstance(value, float) and value.is_integer():  # not inf or nan
        value = int(value)
    text = normalise_text(value)
    if not re.fullmatch(r"\d{6}", text):
        raise CellError("not a 6-digit region code")
    return text


def parse_id_number(value: object) -> str:
    """Upper-cased and trimmed; whether it is valid is the id-number rule's business."""
    if isinstance(value, float) and value.is_integer():  # not inf or nan
        value = int(value)  # a spreadsheet that swallowed the id as a number
    return normalise_text(value).upper()


# Quotation marks around a term (村"两委", 村“两委”, 村‘两委’) are typography, not part of the name (contract v3).
# Full-width ＂ and ＇ are already ASCII after NFKC; the curly ones NFKC keeps.
_HEADER_QUOTES = re.compile("[\"'\u201c\u201d\u2018\u2019]")


def normalise_header(header: object) -> tuple[str, Decimal, str | None]:
    """The header's words without spaces, brackets or quotation marks, the money scale its unit implies, and its unit.

    '  金额（万元） ' -> ('金额', 10000, '元'); '受益人次(户)' -> ('受益人次', 1, '户'); 'amount_yuan' -> ('amount_yuan', 1, None).
    """
    text = _HEADER_QUOTES.sub("", normalise_text(header).replace(" ", "").replace("\u3000", ""))
    scale, unit = Decimal(1), None
    match = _HEADER_UNIT.search(text)
    if match:
        scale, unit = _HEADER_SCALES.get(match.group(1), (Decimal(1), match.group(1)))
        text = text[: match.start()]
    return text.lower(), scale, unit


# Units that say the same thing as a field's unit: 次 (times) is how person-times and events are often written.
_SAME_UNIT = {"人次": {"人次", "次"}, "场": {"场", "次"}}


def unit_agrees(written: str | None, field_unit: str | None) -> bool:
    """A written unit must be the field's own (contract v2): '120户' in person-times is an error."""
    if written is None or field_unit is None:
        return True
    return written in _SAME_UNIT.get(field_unit, {field_unit})
