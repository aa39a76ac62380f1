"""The Great Expectations suites in expectations/, evaluated as polars expressions over a typed form.

The suites stay the rules' one definition: JSON reviewed like code, each
expectation naming its contract rule in ``meta.rule``. GX's pandas engine
runs them at 2–4 µs per cell and re-checks nulls and hashes the frame per
expectation; this evaluator reads the same documents and gives the same
findings (same rows, fields, values and order) for the expectation types the
suites use, in one vectorised pass. ``HALFSKY_VALIDATION_ENGINE=gx`` runs GX
itself instead, and tests/test_verdict_parity.py holds the two to the same
answers on the generator's every invalid drop.

An expectation type this module does not know sends its whole form to GX,
so a suite can gain a new kind of rule before this evaluator learns it.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import date
from decimal import Decimal
from functools import lru_cache

import polars as pl

from halfsky.contract import id_numbers
from halfsky.ingest.judging.gx_validation import finding_value  # GX itself loads only when it validates
from halfsky.contract.rules import Finding
from halfsky.ingest.judging.row_typing import TypedForm

log = logging.getLogger(__name__)

ENGINES = ("polars", "gx")


def engine() -> str:
    name = os.environ.get("HALFSKY_VALIDATION_ENGINE", "polars")
    if name not in ENGINES:
        raise ValueError(f"HALFSKY_VALIDATION_ENGINE={name!r}: use one of {', '.join(ENGINES)}")
    return name


def validate(typed: TypedForm, parameters: dict) -> list[Finding]:
    """Every failing row, field and rule of one form's suite; empty when the form passes."""
    if not len(typed):
        return []
    suite = _suites().get(typed.form.name)
    if engine() == "gx" or suite is None or not all(e["type"] in _CHECKS for e in suite["expectations"]):
        if engine() != "gx":
            log.info("%s: the suite has a rule this evaluator does not know; GX checks this form", typed.form.name)
        from halfsky.ingest.judging.gx_validation import validate as gx_validate

        return gx_validate(typed, parameters)
    table = typed.table
    findings: list[Finding] = []
    checks = []
    for e in suite["expectations"]:
        kwargs = {k: _resolve(v, parameters) for k, v in e["kwargs"].items()}
        scope = _row_condition(kwargs.pop("row_condition", None), kwargs.pop("condition_parser", None))
        checks.append((e, *_CHECKS[e["type"]](table, scope, **kwargs)))
    # Every check given as an expression is evaluated in one select: a small form costs one pass, not one per rule.
    masks = table.select([failing.alias(f"check_{i}") for i, (_, _, failing, _) in enumerate(checks)
                          if isinstance(failing, pl.Expr)])
    for i, (e, field, failing, texts) in enumerate(checks):
        if isinstance(failing, pl.Expr):
            failing = masks[f"check_{i}"]
        if not failing.any():  # most checks of most forms: no rows to pick out, no texts to write
            continue
        rows = table["row_number"].filter(failing).to_list()
        for row, value in zip(rows, texts(failing)):
            findings.append(Finding(e["meta"]["rule"], typed.form.name, row, field, value))
    # A cell that failed to parse is reported once, as a type error, not again as missing.
    unreadable = {(f.row_number, f.field) for f in typed.findings}
    return [f for f in findings if (f.row_number, f.field) not in unreadable]


@lru_cache(maxsize=1)
def _suites() -> dict[str, dict]:
    from halfsky.ingest.judging.gx_validation import load_suite_documents

    return load_suite_documents()


def _resolve(value, parameters: dict):
    if isinstance(value, dict) and "$PARAMETER" in value:
        return parameters[value["$PARAMETER"]]
    return value


_CONDITION = re.compile(r'^\s*(\w+)\s*(==|!=)\s*"([^"]*)"\s*$')


def _row_condition(condition: str | None, parser: str | None) -> pl.Expr:
    """The rows an expectation looks at: all, or those of a pandas-style ``column=="VALUE"`` or
    ``column!="VALUE"`` condition. As in pandas, an empty cell is never equal to the value, so it is unequal."""
    if condition is None:
        return pl.lit(True)
    match = _CONDITION.match(condition)
    if parser != "pandas" or not match:
        raise ValueError(f"row_condition {condition!r} ({parser}) is not one this evaluator reads")
    column, operator, value = match.groups()
    if operator == "==":
        return pl.col(column).eq_missing(value)
    return pl.col(column).ne_missing(value)


def _mask(table: pl.DataFrame, expr: pl.Expr) -> pl.Expr:
    """The failing rows as an expression (validate evaluates them all at once); null is not failing."""
    return expr.fill_null(False)


def _value_text(value) -> str | None:
    """A finding's value as the GX engine writes it: GX sees numbers as floats (TypedForm.frame)."""
    if isinstance(value, (int, float, Decimal)):
        value = float(value)
    return finding_value(value)


def _texts_of(table: pl.DataFrame, column: str):
    def texts(failing: pl.Series) -> list:
        return [_value_text(v) for v in table[column].filter(failing).to_list()]
    return texts


def _not_null(table, scope, column):
    return column, _mask(table, scope & pl.col(column).is_null()), lambda failing: [None] * int(failing.sum())


def _in_set(table, scope, column, value_set):
    values = pl.Series(list(value_set), dtype=table.schema[column])
    return column, _mask(table, scope & pl.col(column).is_not_null() & ~pl.col(column).is_in(values)), _texts_of(table, column)


def _not_in_set(table, scope, column, value_set):
    values = pl.Series(list(value_set), dtype=table.schema[column])
    return column, _mask(table, scope & pl.col(column).is_not_null() & pl.col(column).is_in(values)), _texts_of(table, column)


def _between(table, scope, column, min_value=None, max_value=None, strict_min=False, strict_max=False):
    c = pl.col(column)
    below = pl.lit(False) if min_value is None else (c <= _literal(min_value) if strict_min else c < _literal(min_value))
    above = pl.lit(False) if max_value is None else (c >= _literal(max_value) if strict_max else c > _literal(max_value))
    return column, _mask(table, scope & c.is_not_null() & (below | above)), _texts_of(table, column)


def _literal(value) -> pl.Expr:
    return pl.lit(value, dtype=pl.Date) if isinstance(value, date) else pl.lit(value)


def _lengths_between(table, scope, column, min_value=None, max_value=None):
    length = pl.col(column).str.len_chars()
    out = (pl.lit(False) if min_value is None else length < min_value) | (pl.lit(False) if max_value is None else length > max_value)
    return column, _mask(table, scope & pl.col(column).is_not_null() & out), _texts_of(table, column)


def _unique(table, scope, column):
    # GX: every occurrence of a repeated value fails (pandas duplicated(keep=False)), nulls are not looked at.
    c = pl.col(column)
    considered = scope & c.is_not_null()
    repeated = pl.struct(c).is_duplicated().over(considered)
    return column, _mask(table, considered & repeated), _texts_of(table, column)


def _compound_unique(table, scope, column_list, ignore_row_if="all_values_are_missing"):
    # GX's default for a column list skips rows whose every value is missing; a repeated combination
    # (nulls equal to nulls, as pandas.duplicated has it) fails on every row it appears in.
    if ignore_row_if == "all_values_are_missing":
        considered = scope & ~pl.all_horizontal([pl.col(c).is_null() for c in column_list])
    elif ignore_row_if == "any_value_is_missing":
        considered = scope & ~pl.any_horizontal([pl.col(c).is_null() for c in column_list])
    else:
        considered = scope
    repeated = pl.struct(column_list).is_duplicated().over(considered)
    failing = _mask(table, considered & repeated)

    def texts(failing: pl.Series) -> list:
        rows = table.select(column_list).filter(failing).rows()
        return [", ".join(f"{k}={v}" for k, v in zip(column_list, row)) for row in rows]

    return "+".join(column_list), failing, texts


def _pair_a_greater_than_b(table, scope, column_A, column_B, or_equal=False, ignore_row_if="both_values_are_missing"):
    a, b = pl.col(column_A), pl.col(column_B)
    if ignore_row_if == "either_value_is_missing":
        considered = scope & a.is_not_null() & b.is_not_null()
    elif ignore_row_if == "both_values_are_missing":
        considered = scope & (a.is_not_null() | b.is_not_null())
    else:
        considered = scope
    holds = (a >= b) if or_equal else (a > b)
    failing = _mask(table, considered & ~holds.fill_null(False))

    def texts(failing: pl.Series) -> list:
        rows = table.select(column_A, column_B).filter(failing).rows()
        return [", ".join(_value_text(v) or "" for v in row) for row in rows]

    return column_B, failing, texts


def _valid_cn_id_number(table, scope, column):
    """GB 11643 check digit and a real birth date. Plain 18-character numbers are checked as columns;
    anything else (other scripts' digits, odd lengths) by halfsky.contract.id_numbers.is_valid, one by one."""
    c, first17 = pl.col(column), pl.col("first17")
    digits = [(first17 // 10 ** (16 - i)) % 10 for i in range(17)]  # the number is below 10^17: an Int64
    weighted = pl.sum_horizontal([d * w for d, w in zip(digits, id_numbers.CHECK_WEIGHTS)]) % 11
    check = pl.lit(id_numbers.CHECK_CHARS).str.slice(weighted, 1)
    born = c.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)  # year 0000 is no date to Python either
    plain = c.str.contains(r"^[0-9]{17}[0-9X]$").fill_null(False)
    frame = (table.lazy()
             .with_columns(first17=c.str.slice(0, 17).cast(pl.Int64, strict=False), considered=scope & c.is_not_null())
             .select("considered", plain=plain,
                     valid=(plain & (born.dt.year() >= 1) & (check == c.str.slice(17, 1))).fill_null(False))
             .collect())
    odd = (frame["considered"] & ~frame["plain"]).arg_true().to_list()
    failing = frame["considered"] & ~frame["valid"]
    if odd:
        values = table[column]
        failing = failing.scatter(odd, [not id_numbers.is_valid(values[i]) for i in odd])
    return column, failing.fill_null(False), _texts_of(table, column)


_CHECKS = {
    "expect_column_values_to_not_be_null": _not_null,
    "expect_column_values_to_be_in_set": _in_set,
    "expect_column_values_to_not_be_in_set": _not_in_set,
    "expect_column_values_to_be_between": _between,
    "expect_column_value_lengths_to_be_between": _lengths_between,
    "expect_column_values_to_be_unique": _unique,
    "expect_compound_columns_to_be_unique": _compound_unique,
    "expect_column_pair_values_a_to_be_greater_than_b": _pair_a_greater_than_b,
    "expect_column_values_to_be_valid_cn_id_number": _valid_cn_id_number,
}
