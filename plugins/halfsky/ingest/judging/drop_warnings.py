"""Warnings one drop shows on its own (contract v2): a beneficiary outside the program's eligibility, and more
persons in the line list than person-times in the activity form. They never reject: the rows load, flagged."""

from __future__ import annotations

from datetime import date

import polars as pl

from halfsky.contract import id_numbers
from halfsky.contract.reference.code_lists import ReferenceData
from halfsky.contract.rules import Finding
from halfsky.ingest.judging.row_typing import TypedForm


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def ineligible_beneficiaries(beneficiaries: TypedForm, ref: ReferenceData) -> list[Finding]:
    """Rows whose person (gender, age on the benefit date, from the id number) the program does not serve.
    The finding names what is wrong, never the id number or name."""
    findings = []
    for i in _possibly_ineligible(beneficiaries, ref):
        row = {k: beneficiaries.table[k][i] for k in ("row_number", "program_code", "id_number", "benefit_date")}
        finding = _ineligible(row, ref)
        if finding:
            findings.append(finding)
    return findings


def _possibly_ineligible(beneficiaries: TypedForm, ref: ReferenceData) -> list[int]:
    """Row positions _ineligible must look at: a superset of the ineligible ones, found column-wise.
    Plain 18-digit ids are judged here; any other id (or program) is left to the per-row check."""
    rules = {code: r for code, r in ref.programs.items() if r.has_eligibility}
    if not rules:
        return []
    eligibility = pl.DataFrame({
        "program_code": list(rules),
        "eligible_gender": [r.eligible_gender or None for r in rules.values()],
        "age_min": [r.age_min for r in rules.values()],
        "age_max": [r.age_max for r in rules.values()],
    }, schema={"program_code": pl.String, "eligible_gender": pl.String, "age_min": pl.Int64, "age_max": pl.Int64})
    idn, day, born = pl.col("id_number"), pl.col("benefit_date"), pl.col("born")
    table = (beneficiaries.table.lazy()
             .select("program_code", "id_number", "benefit_date").with_row_index("position")
             .join(eligibility.lazy(), on="program_code", how="inner")
             .filter(day.is_not_null() & idn.is_not_null() & (idn.str.len_chars() == 18))
             .with_columns(plain=idn.str.contains(r"^[0-9]{17}[0-9X]$").fill_null(False),
                           born=idn.str.slice(6, 8).str.to_date("%Y%m%d", strict=False),
                           odd=idn.str.slice(16, 1).cast(pl.Int32, strict=False) % 2 == 1))
    gender = pl.when(pl.col("odd")).then(pl.lit("M")).otherwise(pl.lit("F"))
    before_birthday = (day.dt.month() * 100 + day.dt.day()) < (born.dt.month() * 100 + born.dt.day())
    age = day.dt.year() - born.dt.year() - before_birthday.cast(pl.Int32)
    outside = ((pl.col("eligible_gender").is_not_null() & (gender != pl.col("eligible_gender")))
               | (pl.col("age_min").is_not_null() & (age < pl.col("age_min")))
               | (pl.col("age_max").is_not_null() & (age > pl.col("age_max")))).fill_null(True)
    judged_here = pl.col("plain") & born.is_not_null() & (born.dt.year() >= 1)
    candidates = table.filter(~judged_here | outside).select("position").collect()
    return sorted(candidates["position"].to_list())


def _ineligible(row: dict, ref: ReferenceData) -> Finding | None:
    rules = ref.programs.get(row["program_code"] or "")
    id_number, day = row["id_number"], row["benefit_date"]
    if rules is None or not rules.has_eligibility or not id_number or len(id_number) != 18 or day is None:
        return None
    born = id_numbers.birth_date(id_number)
    if born is None:
        return None
    gender, age = id_numbers.gender(id_number), age_on(born, day)
    reasons = []
    if rules.eligible_gender and gender != rules.eligible_gender:
        reasons.append(f"gender {gender}, program serves {rules.eligible_gender}")
    if (rules.age_min is not None and age < rules.age_min) or (rules.age_max is not None and age > rules.age_max):
        reasons.append(f"age {age}, program serves {rules.age_min if rules.age_min is not None else ''}"
                       f"–{rules.age_max if rules.age_max is not None else ''}")
    if not reasons:
        return None
    return Finding("ineligible_beneficiary", "beneficiaries", row["row_number"], "id_number",
                   f"{row['program_code']}: {'; '.join(reasons)}")


def persons_over_person_times(activity: TypedForm | None, beneficiaries: TypedForm) -> list[Finding]:
    """Per county and program: distinct persons in the line list above the activity form's person-times."""
    key = ["region_code", "program_code"]
    persons = (beneficiaries.table
               .filter(pl.col("region_code").is_not_null() & pl.col("program_code").is_not_null()
                       & pl.col("id_number").is_not_null() & (pl.col("id_number") != ""))
               .group_by(key).agg(pl.col("id_number").n_unique().alias("persons"), pl.col("row_number").min().alias("first_row")))
    if activity is not None and len(activity):
        person_times = activity.table.group_by(key).agg(pl.col("beneficiaries").fill_null(0).sum().alias("person_times"))
        persons = persons.join(person_times, on=key, how="left", nulls_equal=True)
    else:
        persons = persons.with_columns(pl.lit(None, dtype=pl.Int64).alias("person_times"))
    persons = persons.with_columns(pl.col("person_times").fill_null(0))
    over = sorted(persons.filter(pl.col("persons") > pl.col("person_times")).rows(named=True),
                  key=lambda r: (r["region_code"], r["program_code"]))
    return [
        Finding("persons_exceed_person_times", "beneficiaries", r["first_row"], "id_number",
                f"{r['region_code']} {r['program_code']}: {r['persons']} persons > {r['person_times']} person-times")
        for r in over
    ]
