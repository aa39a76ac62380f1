"""Untrusted text (names from the landing zone, cells from drops) made safe for where it goes next.

Postgres text and UTF-8 files take no NUL and no lone surrogate; a log line or a
table cell should not be split by a newline in a file name; a spreadsheet must
not run a cell as a formula.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# OWASP CSV injection: a cell starting with one of these is a formula to Excel, LibreOffice and WPS.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def storable_text(value: str) -> str:
    """The text with NUL and lone surrogates spelled out (\\x00, \\udcff), so Postgres and UTF-8 take it."""
    if value.isascii() and "\x00" not in value:
        return value
    return value.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def printable_name(name: str) -> str:
    """A landing-zone name as people and databases can read it: bytes that are not UTF-8 (which the
    OS hands Python as lone surrogates) and control characters are escaped: ``0_\\xff.json``."""
    if name.isascii() and not _CONTROL.search(name):
        return name
    try:
        text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no OS decoding makes (a JSON escape, say)
        text = storable_text(name)
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def is_printable_name(name: str) -> bool:
    return printable_name(name) == name


def neutralise_formula(value: object) -> object:
    """A cell an office suite would run as a formula, prefixed with ' so it shows as text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
