"""Untrusted text (names from the landing zone, cells from drops) made safe for where it goes next.

Postgres text and UTF-8 files take no NUL and no lone surrogate; a log line or a
table cell should not be split by a newline in a file name; a name must not be
read as a step up a path (``..``) or as a Windows folder separator; a
spreadsheet must not run a cell as a formula; a report must not show a whole
identity number.
"""

from __future__ import annotations

import hashlib
import re

from halfsky.contract.id_numbers import id_number_spans

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A name that is a path step, not a name: an object store can hold a key ``a/../b``.
_PATH_STEPS = {".": "\\x2e", "..": "\\x2e\\x2e"}
# OWASP CSV injection: a cell starting with one of these is a formula to Excel, LibreOffice and WPS.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
KEPT_ID_CHARS = 4


def storable_text(value: str) -> str:
    """The text with NUL and lone surrogates spelled out (\\x00, \\udcff), so Postgres and UTF-8 take it."""
    if value.isascii() and "\x00" not in value:
        return value
    return value.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def printable_name(name: str) -> str:
    """A landing-zone name as people and databases can read it: bytes that are not UTF-8 (which the
    OS hands Python as lone surrogates) and control characters are escaped (``0_\\xff.json``,
    ``a\\nb.json``), and a path step ``.``/``..`` is ``\\x2e``/``\\x2e\\x2e``. Printable text stays as it is."""
    if name in _PATH_STEPS:
        return _PATH_STEPS[name]
    if name.isascii() and not _CONTROL.search(name):
        return name
    try:
        text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no OS decoding makes (a JSON escape, say)
        text = storable_text(name)
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def is_printable_name(name: str) -> bool:
    return printable_name(name) == name


def is_safe_name(name: str) -> bool:
    """A name a drop (or a file in one) may have: printable, and no backslash, which Windows reads as a
    folder step (``..\\..\\x.json``) and which printable names use for their escapes."""
    return "\\" not in name and is_printable_name(name)


# The longest file name ext4, XFS, APFS and NTFS take, in bytes (NTFS counts UTF-16 units: 255 of them is more).
MAX_NAME_BYTES = 255
_KEPT_EXTENSION_BYTES = 16


def fitting_file_name(name: str, suffix: str = "") -> str:
    """``name + suffix`` if it fits in MAX_NAME_BYTES of UTF-8, else the name cut at a character boundary, ``~``, 12
    hex digits of its SHA-256 (the same name always gives the same, two names almost never one) and its extension,
    then ``suffix``: a 250-byte Chinese name gets a ``.report`` folder, and its quarantined copy keeps ``.xlsx``."""
    if len((name + suffix).encode("utf-8", "surrogateescape")) <= MAX_NAME_BYTES:
        return name + suffix
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension.encode("utf-8", "surrogateescape")) > _KEPT_EXTENSION_BYTES:
        stem, extension = name, ""
    tail = f"~{hashlib.sha256(name.encode('utf-8', 'surrogateescape')).hexdigest()[:12]}"
    tail += f".{extension}" if extension else ""
    budget = MAX_NAME_BYTES - len((tail + suffix).encode("utf-8", "surrogateescape"))
    cut = stem.encode("utf-8", "surrogateescape")[:budget].decode("utf-8", "ignore")  # no half character
    return cut + tail + suffix


def neutralise_formula(value: object) -> object:
    """A cell an office suite would run as a formula, prefixed with ' so it shows as text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def mask_id_number(value: str) -> str:
    """All but the last four characters starred: ``**************002X``; the prefecture still finds its row."""
    kept = value[-KEPT_ID_CHARS:] if len(value) > KEPT_ID_CHARS else ""
    return "*" * (len(value) - len(kept)) + kept


def _mask_typed_id(candidate: str) -> str:
    """An id as it was typed, separators kept, every digit but the last four starred: ``****** ******** 000X``."""
    shown, left = [], KEPT_ID_CHARS
    for char in reversed(candidate):
        if char.isalnum():
            shown.append(char if left > 0 else "*")
            left -= 1
        else:
            shown.append(char)
    return "".join(reversed(shown))


def mask_id_numbers_in(text: str | None, valid_only: bool = True) -> str | None:
    """The text with every id number in it masked (in a name, a remark, a file name, a log line, an XCom):
    18 characters or 15 digits, with or without separators (halfsky.contract.id_numbers.id_number_spans). Those with a
    province code and a real date only, unless the text is known to hold id numbers (``valid_only=False``).
    The one masking function for text that leaves halfsky; the marts' reference.mask_id_numbers finds the same spans."""
    if not text:
        return text
    spans = id_number_spans(text, checked=valid_only)
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], _mask_typed_id(text[start:end])]
        last = end
    out.append(text[last:])
    return "".join(out)
