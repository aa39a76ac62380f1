"""Warnings one drop shows on its own (contract v2): a beneficiary outside the program's eligibility, and more
persons in the line list than person-times in the activity form. They never reject: the rows load, flagged."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from halfsky import id_numbers
from halfsky.reference.code_lists import ReferenceData
from halfsky.rules import Finding
from halfsky.row_typing import TypedForm


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def ineligible_beneficiaries(beneficiaries: TypedForm, ref: ReferenceData) -> list[Finding]:
    """Rows whose person (gender, age on the benefit date, from the id number) the program does not serve.
    The finding names what is wrong, never the id number or name."""
    values, findings = beneficiaries.values, []
    for i, number in enumerate(beneficiaries.row_numbers):
        rules = ref.programs.get(values["program_code"][i] or "")
        id_number, day = values["id_number"][i], values["benefit_date"][i]
        if rules is None or not rules.has_eligibility or not id_number or len(id_number) != 18 or day is None:
            continue
        born = id_numbers.birth_date(id_number)
        if born is None:
            continue
        gender, age = id_numbers.gender(id_number), age_on(born, day)
        reasons = []
        if rules.eligible_gender and gender != rules.eligible_gender:
            reasons.append(f"gender {gender}, program serves {rules.eligible_gender}")
        if (rules.age_min is not None and age < rules.age_min) or (rules.age_max is not None and age > rules.age_max):
            reasons.append(f"age {age}, program serves {rules.age_min if rules.age_min is not None else ''}"
                           f"–{rules.age_max if rules.age_max is not None else ''}")
        if reasons:
            findings.append(Finding("ineligible_beneficiary", "beneficiaries", number, "id_number",
                                    f"{values['program_code'][i]}: {'; '.join(reasons)}"))
    return findings


def persons_over_person_times(activity: TypedForm | None, beneficiaries: TypedForm) -> list[Finding]:
    """Per county and program: distinct persons in the line list above the activity form's person-times."""
    persons: dict[tuple[str, str], set[str]] = defaultdict(set)
    first_row: dict[tuple[str, str], int] = {}
    bv = beneficiaries.values
    for i, number in enumerate(beneficiaries.row_numbers):
        key = (bv["region_code"][i], bv["program_code"][i])
        if None in key or not bv["id_number"][i]:
            continue
        persons[key].add(bv["id_number"][i])
        first_row.setdefault(key, number)
    person_times: dict[tuple[str, str], int] = defaultdict(int)
    if activity is not None:
        av = activity.values
        for i in range(len(activity)):
            person_times[(av["region_code"][i], av["program_code"][i])] += av["beneficiaries"][i] or 0
    return [
        Finding("persons_exceed_person_times", "beneficiaries", first_row[key], "id_number",
                f"{key[0]} {key[1]}: {len(ids)} persons > {person_times[key]} person-times")
        for key, ids in sorted(persons.items()) if len(ids) > person_times[key]
    ]
