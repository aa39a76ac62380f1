"""The fast peer's work, in Polars: read a drop, type its columns, check the GX suites' rules as
vectorised expressions, and write the typed rows as the CSV that COPY loads.

Only what the bench needs: the contract's clean cell forms (the generator's default style:
ISO dates, plain numbers, true/false), read from the three drop formats. A cell that does not
cast is a ``type`` finding, as in halfsky. The rules are read from ``expectations/*.json`` and
turned into Polars expressions, one per expectation, so a suite edit reaches this peer too.
The bench's floor uses ``typed_forms`` + ``copy_csv`` to write, once and untimed, the rows it COPYs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from halfsky.contract.forms import CODE, COUNT, DATE, FLAG, FORMS, ID_NUMBER, MEASURE, MONEY, REGION, TEXT, Form

SUITES = Path(__file__).resolve().parents[1] / "expectations"
_FLAGS_TRUE = ["true", "1", "是", "yes", "y"]
_FLAGS_FALSE = ["false", "0", "否", "no", "n"]
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


@dataclass
class DropForms:
    format: str
    frames: dict[str, pl.DataFrame]  # form -> cells as text (null when blank), columns named by field
    first_row: int  # the sender's number of the first data row: 2 under a header, 1 in JSON


# --- read -------------------------------------------------------------------------------------


def _fields_by_header(form: Form) -> dict[str, str]:
    lookup = {}
    for f in form.fields:
        lookup[f.name.lower()] = f.name
        lookup[f.zh] = f.name
    return lookup


def _named(form: Form, frame: pl.DataFrame) -> pl.DataFrame:
    """Known columns renamed to their field names, unknown ones dropped, missing optional ones added as null."""
    lookup = _fields_by_header(form)
    renames = {c: lookup[c.strip().lower()] for c in frame.columns if c.strip().lower() in lookup}
    frame = frame.select([pl.col(c).alias(n) for c, n in renames.items()])
    missing = [f.name for f in form.fields if f.name not in frame.columns]
    required_missing = [n for n in missing if form.field(n).required]
    if required_missing:
        raise ValueError(f"{form.name}: missing required columns {required_missing}")
    return frame.with_columns([pl.lit(None, dtype=pl.String).alias(n) for n in missing]).select(form.field_names)


def read_drop(path: Path) -> DropForms:
    if path.is_dir():
        frames = {}
        for csv_path in sorted(path.glob("*.csv")):
            form = FORMS.get(csv_path.stem.lower())
            if form is None:
                continue
            frame = pl.read_csv(csv_path, infer_schema=False, encoding="utf8")
            frames[form.name] = _named(form, frame)
        return DropForms("csv", frames, 2)
    if path.suffix.lower() == ".xlsx":
        from python_calamine import CalamineWorkbook

        workbook = CalamineWorkbook.from_path(str(path))
        frames = {}
        by_zh = {f.zh: f for f in FORMS.values()}
        for sheet_name in workbook.sheet_names:
            form = FORMS.get(sheet_name.strip().lower()) or by_zh.get(sheet_name.strip())
            if form is None:
                continue
            rows = workbook.get_sheet_by_name(sheet_name).to_python()
            header = [str(h) for h in rows[0]]
            frame = pl.DataFrame(rows[1:], schema={h: pl.String for h in header}, orient="row", strict=False)
            frames[form.name] = _named(form, frame)
        return DropForms("xlsx", frames, 2)
    if path.suffix.lower() == ".json":
        doc = json.loads(path.read_bytes())
        frames = {}
        for name, records in doc.get("forms", {}).items():
            form = FORMS.get(name.strip().lower())
            if form is None:
                continue
            keys = list(dict.fromkeys(k for r in records[:1000] for k in r))
            frame = pl.from_dicts(records, schema={k: pl.String for k in keys}, strict=False)
            frames[form.name] = _named(form, frame)
        return DropForms("json", frames, 1)
    raise ValueError(f"not a drop format: {path}")


# --- type -------------------------------------------------------------------------------------


def _cast(field, column: pl.Expr) -> pl.Expr:
    text = column.str.strip_chars()
    if field.kind == REGION:
        return pl.when(text.str.contains(r"^\d{6}$")).then(text)
    if field.kind in (CODE, ID_NUMBER):
        return text.str.to_uppercase()
    if field.kind == TEXT:
        return text
    if field.kind == COUNT:
        return text.cast(pl.Float64, strict=False).pipe(
            lambda v: pl.when(v == v.round(0)).then(v.cast(pl.Int64, strict=False)))
    if field.kind in (MONEY, MEASURE):
        precision = 18 if field.kind == MONEY else 20
        return text.str.replace_all(",", "").cast(pl.Float64, strict=False).round(2).cast(pl.Decimal(precision, 2))
    if field.kind == DATE:
        return text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    if field.kind == FLAG:
        low = text.str.to_lowercase()
        return pl.when(low.is_in(_FLAGS_TRUE)).then(True).when(low.is_in(_FLAGS_FALSE)).then(False)
    raise ValueError(field.kind)


def type_form(form: Form, cells: pl.DataFrame, first_row: int) -> tuple[pl.DataFrame, int]:
    """(typed frame with row_number first, number of cells that did not cast)."""
    blank = {f.name: pl.col(f.name).is_null() | (pl.col(f.name).str.strip_chars() == "") for f in form.fields}
    typed_exprs, bad_exprs = [], []
    for f in form.fields:
        value = _cast(f, pl.col(f.name))
        default = pl.lit(f.default) if f.default is not None else pl.lit(None)
        typed_exprs.append(pl.when(blank[f.name]).then(default).otherwise(value).alias(f.name))
        bad_exprs.append((~blank[f.name] & value.is_null()).sum().alias(f.name))
    frame = cells.with_row_index("row_number", offset=first_row).with_columns(pl.col("row_number").cast(pl.Int64))
    typed = frame.select([pl.col("row_number"), *typed_exprs])
    # A column all null reads as Null dtype; give every column its field's type.
    typed = typed.with_columns([pl.col(f.name).cast(_dtype(f)) for f in form.fields])
    bad = frame.select(bad_exprs).row(0)
    return typed, int(sum(bad))


def _dtype(field) -> pl.DataType:
    return {REGION: pl.String, CODE: pl.String, ID_NUMBER: pl.String, TEXT: pl.String, COUNT: pl.Int64,
            MONEY: pl.Decimal(18, 2), MEASURE: pl.Decimal(20, 2), DATE: pl.Date, FLAG: pl.Boolean}[field.kind]


def typed_forms(path: Path) -> tuple[dict[str, pl.DataFrame], int]:
    drop = read_drop(path)
    out, bad = {}, 0
    for name, cells in drop.frames.items():
        out[name], n = type_form(FORMS[name], cells, drop.first_row)
        bad += n
    return out, bad


# --- the suites as expressions ----------------------------------------------------------------


def load_suites() -> dict[str, list[dict]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8"))["expectations"] for p in sorted(SUITES.glob("*.json"))}


_CONDITION = re.compile(r'^\s*(\w+)\s*(==|!=)\s*"([^"]*)"\s*$')


def _param(value, parameters: dict):
    return parameters[value["$PARAMETER"]] if isinstance(value, dict) and "$PARAMETER" in value else value


def _condition(kwargs: dict) -> pl.Expr:
    text = kwargs.get("row_condition")
    if not text:
        return pl.lit(True)
    m = _CONDITION.match(text)
    if not m:
        raise ValueError(f"row_condition the bench cannot translate: {text}")
    column, operator, value = m.groups()
    # as in pandas, an empty cell is never equal to the value
    return pl.col(column).eq_missing(value) if operator == "==" else pl.col(column).ne_missing(value)


def _id_number_invalid(column: str) -> pl.Expr:
    c = pl.col(column)
    total = pl.sum_horizontal([c.str.slice(i, 1).cast(pl.Int64, strict=False) * w for i, w in enumerate(_WEIGHTS)])
    expected = pl.lit(_CHECK).str.slice((total % 11).cast(pl.Int64), 1)
    born = c.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
    valid = c.str.contains(r"^\d{17}[\dX]$") & born.is_not_null() & (c.str.slice(17, 1) == expected)
    return c.is_not_null() & ~valid.fill_null(False)


def failing(expectation: dict, parameters: dict) -> pl.Expr:
    """True on each row the expectation fails (GX's unexpected rows)."""
    kind, kw = expectation["type"], expectation["kwargs"]
    cond = _condition(kw)
    col = pl.col(kw["column"]) if "column" in kw else None
    if kind == "expect_column_values_to_not_be_null":
        return cond & col.is_null()
    if kind == "expect_column_values_to_be_in_set":
        return cond & col.is_not_null() & ~col.is_in(list(_param(kw["value_set"], parameters)))
    if kind == "expect_column_values_to_not_be_in_set":
        return cond & col.is_not_null() & col.is_in(list(_param(kw["value_set"], parameters)))
    if kind == "expect_column_values_to_be_between":
        low, high = _param(kw.get("min_value"), parameters), _param(kw.get("max_value"), parameters)
        bad = pl.lit(False)
        if low is not None:
            bad = bad | ((col <= low) if kw.get("strict_min") else (col < low))
        if high is not None:
            bad = bad | ((col >= high) if kw.get("strict_max") else (col > high))
        return cond & col.is_not_null() & bad
    if kind == "expect_column_value_lengths_to_be_between":
        length = col.str.len_chars()
        bad = pl.lit(False)
        if kw.get("min_value") is not None:
            bad = bad | (length < kw["min_value"])
        if kw.get("max_value") is not None:
            bad = bad | (length > kw["max_value"])
        return cond & col.is_not_null() & bad
    if kind == "expect_column_values_to_be_unique":
        return cond & col.is_not_null() & col.is_duplicated()
    if kind == "expect_compound_columns_to_be_unique":
        cols = kw["column_list"]
        # duplicates among the rows the condition keeps
        key = pl.when(cond).then(pl.struct(cols))
        return cond & key.is_duplicated()
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = pl.col(kw["column_A"]), pl.col(kw["column_B"])
        bad = (a < b) if kw.get("or_equal") else (a <= b)
        return cond & a.is_not_null() & b.is_not_null() & bad
    if kind == "expect_column_values_to_be_valid_cn_id_number":
        return cond & _id_number_invalid(kw["column"])
    raise ValueError(f"expectation the bench cannot translate: {kind}")


def check(typed: dict[str, pl.DataFrame], parameters: dict, suites: dict[str, list[dict]]) -> dict[str, int]:
    """Failing rows per rule over every form, all of a form's expectations in one pass."""
    counts: dict[str, int] = {}
    for name, frame in typed.items():
        expectations = suites.get(name, [])
        if not expectations or not len(frame):
            continue
        row = frame.select([failing(e, parameters).sum().alias(str(i)) for i, e in enumerate(expectations)]).row(0)
        for e, n in zip(expectations, row):
            if n:
                rule = e["meta"]["rule"]
                counts[rule] = counts.get(rule, 0) + int(n)
    return counts


def expectation_parameters(prefecture_code: str, period: str) -> dict:
    """What halfsky passes its suites: halfsky.ingest.judging.judge's own, from the same reference data."""
    from halfsky.ingest.judging.judge import expectation_parameters as halfsky_parameters
    from halfsky.contract.reference.code_lists import reference_data

    return halfsky_parameters(prefecture_code, period, reference_data())


# --- load -------------------------------------------------------------------------------------


def copy_csv(form: Form, typed: pl.DataFrame, submission_id: int, period: str) -> bytes:
    """submission_id, row_number, period, fields: copy_columns' order, as CSV COPY reads (empty = null)."""
    return typed.select([pl.lit(submission_id, dtype=pl.Int64).alias("submission_id"), "row_number",
                         pl.lit(period, dtype=pl.String).alias("period"), *form.field_names]) \
        .write_csv(include_header=False).encode("utf-8")


def copy_columns(form: Form) -> str:
    return ", ".join(["submission_id", "row_number", "period", *form.field_names])
