"""How a canonical value is written into a cell: the clean form, or one of the
dirty-but-valid forms the contract allows (units, separators, full-width digits,
Chinese dates, lower-case codes with spaces, 是/否 flags).

A count written with a unit is written with the field's own unit (contract v2):
the writer resolves it from the form and the row (``unit`` below), since for
quantities, targets and populations the row decides it.
"""

from __future__ import annotations

import random
from decimal import Decimal

from halfsky.contract.forms import CODE, COUNT, DATE, FLAG, ID_NUMBER, MEASURE, MONEY, REGION, Field

_FULL_WIDTH = str.maketrans("0123456789.", "０１２３４５６７８９．")
YUAN = "元"


def plain(amount: Decimal) -> str:
    return format(amount, "f")


def in_wan(amount: Decimal) -> str:
    """Yuan as ten-thousands, exactly: 1234.56 -> 0.123456."""
    return format((Decimal(amount) / 10000).normalize(), "f")


def clean_cell(field: Field, value):
    """The canonical spelling: ISO dates, plain numbers, true/false (a bool, so JSON and xlsx hold a real one)."""
    if value is None:
        return ""
    if isinstance(value, str):  # already text, e.g. a deliberately broken value
        return value
    if field.kind == FLAG:
        return bool(value)
    if field.kind in (MONEY, MEASURE) and isinstance(value, Decimal):
        return plain(value)
    if field.kind == DATE:
        return value.isoformat()
    return str(value)


def _dirty_money(value: Decimal, rng: random.Random) -> str:
    choice = rng.randrange(5)
    if choice == 0:
        return f"{value:,.2f}"  # 1,778,000.00
    if choice == 1:
        return plain(value).translate(_FULL_WIDTH)
    if choice == 2:
        return in_wan(value) + "万"
    if choice == 3:
        return plain(value) + "元"
    return plain(value)


def _dirty_count(value: int, unit: str | None, rng: random.Random):
    choice = rng.randrange(4)
    if choice == 0 and unit:
        return f"{value}{unit}"
    if choice == 1 and unit and value >= 100 and value % 100 == 0:
        return f"{format((Decimal(value) / 10000).normalize(), 'f')}万{unit}"  # 2.76万人次
    if choice == 2:
        return str(value).translate(_FULL_WIDTH)
    return str(value)


def dirty_cell(field: Field, value, rng: random.Random, header_in_wan: bool = False, unit: str | None = None):
    """A messy but valid spelling of ``value``. ``unit`` is the unit the field counts in for this row
    (人次, 场, 个, 口…, 元 for a money target), or None when no unit may be written."""
    if value is None or value == "":
        return rng.choice(["", " "]) if not field.required else ""
    kind = field.kind
    if kind == MONEY:
        if header_in_wan:
            return in_wan(value)
        return _dirty_money(value, rng)
    if kind == MEASURE:
        if unit == YUAN:
            choice = rng.randrange(6)
            if choice == 0:
                return in_wan(value) + "万元"
            if choice == 1 and value % 1_000_000 == 0:
                return format((Decimal(value) / 100_000_000).normalize(), "f") + "亿"
            return _dirty_money(Decimal(value), rng)
        return _dirty_count(int(value), unit, rng)
    if kind == COUNT:
        return _dirty_count(value, unit, rng)
    if kind == FLAG:
        if value:
            return rng.choice(["是", "true", "1", True])
        return rng.choice(["否", "false", "0", "", False])  # empty means no
    if kind == DATE:
        choice = rng.randrange(4)
        if choice == 0:
            return f"{value.year}年{value.month}月{value.day}日"
        if choice == 1:
            return f"{value.year}/{value.month}/{value.day}"
        if choice == 2:
            return value  # written as a real date cell in xlsx, ISO elsewhere
        return value.isoformat()
    if kind == CODE:
        return rng.choice([f" {value.lower()} ", value.lower(), f"{value} "])
    if kind == ID_NUMBER:
        return value.lower() if value.endswith("X") else value
    if kind == REGION:
        return rng.choice([value, f" {value}", int(value)])
    return value


def header(field: Field, chinese: bool, rng: random.Random | None = None, wan: bool = False) -> str:
    if not chinese:
        return field.name
    name = field.zh
    if field.kind == MONEY:
        name = "金额（万元）" if wan else rng.choice(["金额(元)", "金额（元）", " 金额 (元) "]) if rng else name
    elif rng and rng.random() < 0.3:
        name = f" {name} "
    if rng and '"' in name:
        # 村"两委": senders quote the term with ASCII or full-width marks, or not at all (contract v3)
        left, right = rng.choice([('"', '"'), ("\u201c", "\u201d"), ("", "")])
        name = name.replace('"', left, 1).replace('"', right, 1)
    return name
