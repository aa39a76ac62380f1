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


# --- id numbers as people type them into names and free text -------------------------------------------------
#
# "150102198503150025", "150102 19850315 0025", "150102-1985-0315-002X", "１５０１０２…" (full-width digits), or
# the 15 digits of a first-generation card ("150302 850315 001": region, YYMMDD of 19YY, 3 digits). Separators may
# stand between any two characters, up to three at a time. A candidate is an id number when it is not part of a
# longer run of digits, its first two digits are a province code and its date is a real one: that keeps voucher
# numbers, amounts, dates and region codes unmasked (shorter, or no date where an id has one). An 18-character id
# is masked whatever its check digit: a mistyped check digit still leaves 17 characters of the person's id.
#
# These patterns are written in the regex dialect Python and PostgreSQL share (no lookaround, no \d): halfsky.warehouse.schema
# builds reference.id_number_spans / reference.mask_id_numbers from these very strings and the scan below, so the
# marts, the dbt test and the retention purge find exactly what the logs, XComs, the digest and the reports mask.
FULL_WIDTH_DIGITS = "０１２３４５６７８９"
ID_DIGIT = "[0-9" + FULL_WIDTH_DIGITS + "]"
ID_CHECK_CHAR = "[0-9" + FULL_WIDTH_DIGITS + "XxＸｘ]"
# Space, no-break space, ideographic (full-width) space, underscore, the Unicode dashes and minus, full-width hyphen,
# and the ASCII hyphen last (a literal there in both dialects).
ID_SEPARATOR = "[ \u00a0\u3000_\u2010-\u2015\u2212\uff0d-]"
_GAP = ID_SEPARATOR + "{0,3}"
ID18_PATTERN = f"{ID_DIGIT}(?:{_GAP}{ID_DIGIT}){{16}}{_GAP}{ID_CHECK_CHAR}"
ID15_PATTERN = f"{ID_DIGIT}(?:{_GAP}{ID_DIGIT}){{14}}"
# A cheap test that a text may hold one at all (15 digits with separators between): most texts stop here.
ID_HINT_PATTERN = ID15_PATTERN
# GB/T 2260 province-level codes (and 83 for Taiwan residents, 91 for foreigners' permanent residence cards).
PROVINCE_CODES = frozenset({11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
                            50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91})
BIRTH_YEARS = (1900, 2099)  # an 18-character id's four-digit year; a 15-digit one's is always 19YY

_ID18_AT = re.compile(ID18_PATTERN)
_ID15_AT = re.compile(ID15_PATTERN)
_ID_HINT = re.compile(ID_HINT_PATTERN)
_SEPARATOR = re.compile(ID_SEPARATOR)
_TO_ASCII = str.maketrans(FULL_WIDTH_DIGITS + "xＸｘ", "0123456789XXX")


def _is_digit(char: str) -> bool:
    return "0" <= char <= "9" or char in FULL_WIDTH_DIGITS


def bare_characters(candidate: str) -> str:
    """A candidate's digits (and X) alone, in ASCII: '150102 19850315 002x' -> '15010219850315002X'."""
    return _SEPARATOR.sub("", candidate).translate(_TO_ASCII)


def _real_date(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def looks_like_id_number(bare: str) -> bool:
    """18 or 15 characters (as bare_characters gives them) with a province code and a real birth date in their places."""
    if len(bare) not in (15, 18) or not bare[:-1].isdigit() or int(bare[:2]) not in PROVINCE_CODES:
        return False
    if len(bare) == 15:
        return bare[-1].isdigit() and _real_date(1900 + int(bare[6:8]), int(bare[8:10]), int(bare[10:12]))
    year = int(bare[6:10])
    return BIRTH_YEARS[0] <= year <= BIRTH_YEARS[1] and _real_date(year, int(bare[10:12]), int(bare[12:14]))


def id_number_spans(text: str | None, checked: bool = True) -> list[tuple[int, int]]:
    """(start, end) of every id number in ``text``, left to right, never overlapping.

    At each digit that follows no digit: an 18-character candidate there, else a 15-digit one, that no digit
    follows and that looks_like_id_number (with ``checked=False`` the shape alone is enough: the text is known
    to hold id numbers). A candidate that fails moves the scan one character on, so an id inside a failed one is still found.
    """
    if not text or not _ID_HINT.search(text):
        return []
    spans, pos, n = [], 0, len(text)
    while pos < n:
        if not _is_digit(text[pos]) or (pos > 0 and _is_digit(text[pos - 1])):
            pos += 1
            continue
        for pattern in (_ID18_AT, _ID15_AT):
            m = pattern.match(text, pos)
            if m and not (m.end() < n and _is_digit(text[m.end()])) and \
                    (not checked or looks_like_id_number(bare_characters(m.group()))):
                spans.append((pos, m.end()))
                pos = m.end()
                break
        else:
            pos += 1
    return spans
