"""Reading a JSON drop: ``{"prefecture_code": …, "period": …, "forms": {"activity": [{…row…}, …], …}}``.

Parsed with its guards: a key given twice in one object, a lone surrogate escape, nesting too deep to read, and
numbers too long for Python's int() are each refused or kept exact (decimals as Decimal; NaN and Infinity as
text, so they are a type error in their own cell). The prefecture and period inside must match the drop's path.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

from halfsky.contract.cells import normalise_text
from halfsky.contract.untrusted_text import printable_name
from halfsky.ingest.reading.drop import DropRejected, ParsedDrop, check_width, form_named, form_table, misnamed_form
from halfsky.ingest.reading.near_form_names import form_resembled_by
from halfsky.ingest.reading.text_decoding import decode_text

# JSON numbers longer than this are read as Decimal: Python refuses int() past 4300 digits.
_LONG_INT_DIGITS = 40


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB]")


def _lone_surrogate(doc: object) -> str | None:
    """The first string (key or value) holding a lone surrogate; iterative, whatever the depth."""
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _object_without_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object whose keys are all different: of a key given twice, which value counts cannot be told."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise DropRejected("json_duplicate_key", f'"{printable_name(key)[:200]}" appears twice in one object')
    return obj


def _long_int(text: str) -> int | Decimal:
    """An integer as int, or as Decimal past Python's int() limit (the cell's rule then says it is out of range)."""
    return int(text) if len(text) <= _LONG_INT_DIGITS else Decimal(text)


def parse_json(text: str, name: str):
    # NaN and Infinity are not JSON (RFC 8259), but Python reads them: as text, so a count or an
    # amount spelt so is a type error in its own row and field, never a blank or a zero.
    options = dict(parse_float=Decimal, parse_constant=str, object_pairs_hook=_object_without_duplicate_keys)
    try:
        try:
            return json.loads(text, **options)
        except ValueError as exc:
            if isinstance(exc, json.JSONDecodeError) or "digits" not in str(exc):
                raise
            return json.loads(text, parse_int=_long_int, **options)  # a number of thousands of digits
    except json.JSONDecodeError as exc:
        raise DropRejected("unreadable", f"{name} is not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    except RecursionError as exc:
        raise DropRejected("json_too_deep", f"{name} nests lists or objects too deeply to read") from exc


def read_json(path: Path, prefecture_code: str | None, period: str | None) -> ParsedDrop:
    text = decode_text(path.read_bytes(), path.name)
    doc = parse_json(text, path.name)
    # json turns an escaped surrogate pair into one character; a lone one stays and breaks UTF-8 later.
    if _SURROGATE_ESCAPE.search(text) and (bad := _lone_surrogate(doc)) is not None:
        raise DropRejected("invalid_unicode", f"{path.name}: {printable_name(bad)[:200]}")
    if not isinstance(doc, dict) or not isinstance(doc.get("forms"), dict):
        raise DropRejected("unreadable", f'{path.name} has no "forms" object')
    for key, expected in (("prefecture_code", prefecture_code), ("period", period)):
        inside = normalise_text(doc.get(key))
        if expected is not None and inside and inside != expected:
            raise DropRejected("header_mismatch", f'"{key}" is {inside} in the file but {expected} in its path')
    parsed = ParsedDrop("json", {})
    for name, rows in doc["forms"].items():
        form = form_named(name)
        if form is None:
            if resembled := form_resembled_by(name):
                raise misnamed_form(f'"{name}" in "forms"', f'"forms" 中的 "{name}"', resembled, f'"{resembled.name}"')
            raise DropRejected("unknown_form", f'"{name}" in "forms" is not a form: use activity, funds, beneficiaries, '
                                               "targets, population, sites or grassroots (or 项目活动, 资金收支, 受益人明细, 年度任务, 人口基数, 阵地组织, 基层组织覆盖)")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise DropRejected("unreadable", f'"{name}" must be a list of row objects', form=form.name)
        header = list(dict.fromkeys(k for r in rows for k in r))
        if not header:
            header = [f.name for f in form.fields]  # an empty list is an empty form, not a missing column
        check_width(form, header, f'"{name}"')  # before a row of a million keys becomes a million cells per row
        parsed.add_form(f'"{name}"', form_table(form, header, [[r.get(k) for k in header] for r in rows], parsed))
    return parsed
