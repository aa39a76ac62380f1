"""Resident identity numbers (GB 11643-1999): check digit, normalisation, derived facts."""

from __future__ import annotations

import re
from datetime import date

CHECK_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$")


def check_digit(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, CHECK_WEIGHTS))
    return CHECK_CHARS[total % 11]


def normalise(value: str) -> str:
    """Trim and upper-case: the contract treats a trailing x as X."""
    return value.strip().upper()


def is_valid(value: object) -> bool:
    """18 characters, a real birth date, and a correct check digit."""
    if not isinstance(value, str):
        return False
    number = normalise(value)
    if not _SHAPE.match(number):
        return False
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return check_digit(number[:17]) == number[17]


def gender(number: str) -> str:
    """The 17th digit is odd for men, even for women."""
    return "M" if int(number[16]) % 2 else "F"


def birth_year(number: str) -> int:
    return int(number[6:10])


def birth_date(number: str) -> date | None:
    """The birth date digits 7-14 give, or None when they are no real date."""
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None
