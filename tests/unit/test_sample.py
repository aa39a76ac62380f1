"""The generator's truth file agrees with the drops it wrote, and its valid drops keep the contract's
v2 invariants (eligible persons, enough person-times, cash within spending within incoming).

Drops are read back with plain readers (csv, calamine, json) for the v1 totals, and through the
pipeline's own reader and typing (halfsky.ingest.reading.drop_reader.read_drop, halfsky.ingest.judging.row_typing.type_rows) for the
v2 checks, so a dirty cell is read the way the pipeline reads it."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from halfsky.ingest.reading.drop_reader import read_drop
from halfsky.contract.forms import UNIT_OF_INDICATOR, UNIT_OF_POPULATION_GROUP, UNIT_OF_PROGRAM
from halfsky.contract.reference.code_lists import reference_data
from halfsky.contract.reference.divisions import all_divisions, allowed_region_codes
from halfsky.ingest.judging.row_typing import type_rows
from halfsky_dev.sample import catalog
from halfsky_dev.sample.__main__ import main as generate
from halfsky_dev.sample.content import INJECTIONS
from halfsky_dev.sample.generator import INVALID_KINDS

MONEY_INDICATORS = {"FUNDS_RAISED", "FUNDS_SPENT", "CASH_PAID"}


def _read_drop(path: Path) -> dict[str, list[dict]]:
    if path.is_dir():
        forms = {}
        for f in path.glob("*.csv"):
            with f.open(encoding="utf-8", newline="") as fh:
                forms[f.stem] = list(csv.DictReader(fh))
        return forms
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))["forms"]
    book = CalamineWorkbook.from_path(str(path))
    forms = {}
    for name in book.sheet_names:
        rows = book.get_sheet_by_name(name).to_python()
        forms[name] = [dict(zip(rows[0], r)) for r in rows[1:]]
    return forms


def _money(value) -> Decimal:
    return Decimal(repr(value) if isinstance(value, float) else str(value)).quantize(Decimal("0.01"))


@pytest.fixture(scope="module")
def clean_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("landing") / "land"
    truth_path = root.with_name("truth.json")
    assert generate([str(root), "--prefectures", "3", "--months", "2", "--rows", "12", "--resubmissions", "1",
                     "--duplicates", "1", "--truth", str(truth_path)]) == 0
    return root, json.loads(truth_path.read_text(encoding="utf-8"))


def test_truth_lists_exactly_the_drops_on_disk(clean_tree):
    root, truth = clean_tree
    on_disk = {str(p.relative_to(root)) for p in root.glob("*/*/*")}
    assert on_disk == {d["path"] for d in truth["drops"]}
    for d in truth["drops"]:
        mtime = (root / d["path"]).stat().st_mtime
        assert mtime == pytest.approx(datetime.fromisoformat(d["received_at"]).timestamp())


def test_statuses_cover_resubmission_and_duplicate(clean_tree):
    _, truth = clean_tree
    monthly = [d["expected_status"] for d in truth["drops"] if len(d["period"]) == 7]
    assert monthly.count("superseded") == 1 and monthly.count("duplicate") == 1
    assert monthly.count("accepted") == 3 * 2  # the newest drop of every prefecture-period
    # Every unit's plan for the year (2026 has not ended by the as-of date: no year-end count yet).
    annual = [d for d in truth["drops"] if len(d["period"]) == 4]
    assert [(d["period"], d["expected_status"], d["expected_warnings"]) for d in annual] == [("2026", "accepted", [])] * 3


def test_totals_match_the_files(clean_tree):
    root, truth = clean_tree
    funds, benefits, activity = defaultdict(Decimal), defaultdict(int), defaultdict(int)
    persons = set()
    for rel in truth["newest_drops"]:
        prefecture, period = rel.split("/")[:2]
        forms = _read_drop(root / rel)
        for row in forms["funds"]:
            funds[(prefecture, period, row["program_code"], row["flow_type"])] += _money(row["amount_yuan"])
        for row in forms["beneficiaries"]:
            benefits[(prefecture, period, row["program_code"])] += 1
            persons.add(row["id_number"].upper())
        for row in forms["activity"]:
            activity[(prefecture, period, row["program_code"])] += int(row["beneficiaries"])
    assert funds == {(t["prefecture_code"], t["period"], t["program_code"], t["flow_type"]): Decimal(t["amount_yuan"])
                     for t in truth["totals"]["funds"]}
    assert benefits == {(t["prefecture_code"], t["period"], t["program_code"]): t["rows"] for t in truth["totals"]["benefits"]}
    assert activity == {(t["prefecture_code"], t["period"], t["program_code"]): t["beneficiaries"] for t in truth["totals"]["activity"]}
    assert len(persons) == truth["distinct_persons"]


def test_every_invalid_kind_and_dirty_forms_are_written(tmp_path):
    root = tmp_path / "land"
    truth_path = tmp_path / "truth.json"
    assert generate([str(root), "--prefectures", "2", "--months", "3", "--rows", "10", "--dirty", "--invalid", "all",
                     "--truth", str(truth_path)]) == 0
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    rejected = {d["expected_rule"] for d in truth["drops"] if d["expected_status"] == "rejected"}
    assert rejected == set(INVALID_KINDS)
    assert {"unit_mismatch", "quantity_without_unit", "wrong_period_kind", "new_exceeds_total", "unknown_region"} <= rejected
    annual_bad = next(d for d in truth["drops"] if d["expected_rule"] == "new_exceeds_total")
    assert annual_bad["period"] == "2026" and annual_bad["path"].startswith(f"{annual_bad['prefecture_code']}/2026/")
    text = "".join(p.read_bytes().decode("gb18030", errors="replace") for p in root.rglob("*.csv"))
    assert "万" in text or "（" in text  # Chinese units or headers appear somewhere
    assert {Path(d["path"]).suffix for d in truth["drops"]} >= {".xlsx", ".json", ""}


def test_help_describes_the_knobs(capsys):
    with pytest.raises(SystemExit):
        generate(["--help"])
    out = capsys.readouterr().out
    for knob in ("--rows", "--dirty", "--invalid", "--prefectures", "--months", "--prior-year", "--with-warnings"):
        assert knob in out


def test_the_same_seed_writes_the_same_tree(tmp_path):
    trees = []
    for name in ("a", "b"):
        root, truth_path = tmp_path / name, tmp_path / f"{name}.json"
        assert generate([str(root), "--prefectures", "2", "--months", "1", "--rows", "8", "--dirty", "--with-warnings",
                         "--truth", str(truth_path)]) == 0
        trees.append((truth_path.read_text(encoding="utf-8"),
                      {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}))
    assert trees[0] == trees[1]


# --- contract v2: read back the way the pipeline reads ---------------------------------------------

@pytest.fixture(scope="module")
def v2_tree(tmp_path_factory):
    """Inner Mongolia and Ili, two months this year and the same months last year (whose year is over:
    plan, then year-end resend), dirty cells, a resubmission, a duplicate, and every injected warning."""
    root = tmp_path_factory.mktemp("v2") / "land"
    truth_path = root.with_name("truth.json")
    assert generate([str(root), "--prefectures", "3", "--months", "2", "--first-period", "2026-08", "--prior-year",
                     "--rows", "14", "--dirty", "--resubmissions", "1", "--duplicates", "1", "--with-warnings",
                     "--seed", "5", "--truth", str(truth_path)]) == 0
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    typed = {}
    for d in truth["drops"]:
        if d["expected_status"] in ("accepted", "superseded"):
            parsed = read_drop(root / d["path"], d["prefecture_code"], d["period"])
            typed[d["path"]] = {}
            for name, table in parsed.forms.items():
                form = type_rows(table, 2)
                assert form.findings == [], (d["path"], form.findings[:3])
                typed[d["path"]][name] = form
    return root, truth, typed


def _rows(form) -> list[dict]:
    names = list(form.values)
    return [dict(zip(names, values)) for values in zip(*form.values.values())]


def _valid_months(truth, status=("accepted", "superseded")):
    return [d for d in truth["drops"] if len(d["period"]) == 7 and d["expected_status"] in status]


def _age(number: str, day: date) -> int:
    born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _eligible(program: str, number: str, day: date) -> bool:
    rules = reference_data().programs[program]
    male = int(number[16]) % 2 == 1
    if rules.eligible_gender == "F" and male:
        return False
    age = _age(number, day)
    return (rules.age_min is None or age >= rules.age_min) and (rules.age_max is None or age <= rules.age_max)


def test_with_warnings_injects_each_warning_once_in_a_plain_slot(v2_tree):
    _, truth, _ = v2_tree
    injected = defaultdict(list)
    for d in truth["drops"]:
        for w in d["expected_warnings"]:
            if w != "late_drop":
                injected[w].append(d)
        assert len(set(d["expected_warnings"]) - {"late_drop"}) <= 1, d["path"]
    assert sorted(injected) == sorted(INJECTIONS) and all(len(v) == 1 for v in injected.values())
    for (d,) in injected.values():
        siblings = [o for o in truth["drops"] if (o["prefecture_code"], o["period"]) == (d["prefecture_code"], d["period"])]
        assert len(siblings) == 1 and d["expected_status"] == "accepted", "no resubmission or duplicate in a warning's slot"
    # The relief recipient paid twice: the later month of the same unit and year, the earlier one accepted first.
    (over,) = injected["cash_over_cap"]
    assert [d["period"] for d in _valid_months(truth, ("accepted",))
            if d["prefecture_code"] == over["prefecture_code"] and d["period"][:4] == over["period"][:4]][0] < over["period"]


def test_valid_drops_hold_only_eligible_persons(v2_tree):
    _, truth, typed = v2_tree
    groups = {"SPRING_BUD": {"FEMALE_STUDENTS", "LEFT_BEHIND_CHILDREN"}, "TWO_CANCER_SCREEN": {"RURAL_WOMEN", "LOW_INCOME_WOMEN", "URBAN_WOMEN"}}
    for d in _valid_months(truth):
        rows = _rows(typed[d["path"]]["beneficiaries"])
        ineligible = [r for r in rows if not _eligible(r["program_code"], r["id_number"], r["benefit_date"])]
        if "ineligible_beneficiary" in d["expected_warnings"]:
            assert [(r["program_code"], int(r["id_number"][16]) % 2) for r in ineligible] == [("TWO_CANCER_SCREEN", 1)]
        else:
            assert ineligible == [], d["path"]
        for r in rows:
            assert r["beneficiary_group_code"] in groups.get(r["program_code"], {r["beneficiary_group_code"]})
            if r["beneficiary_group_code"] == "ELDERLY_ALONE":
                assert _age(r["id_number"], r["benefit_date"]) >= 60
            if r["beneficiary_group_code"] in ("FEMALE_STUDENTS", "LEFT_BEHIND_CHILDREN", "ORPHANS", "DISTRESSED_CHILDREN"):
                assert _age(r["id_number"], r["benefit_date"]) <= 18


def test_every_line_list_county_and_program_has_enough_person_times(v2_tree):
    _, truth, typed = v2_tree
    for d in _valid_months(truth):
        persons, person_times = defaultdict(set), defaultdict(int)
        for r in _rows(typed[d["path"]]["beneficiaries"]):
            persons[(r["region_code"], r["program_code"])].add(r["id_number"])
        for r in _rows(typed[d["path"]]["activity"]):
            person_times[(r["region_code"], r["program_code"])] += r["beneficiaries"]
        short = [key for key, ids in persons.items() if len(ids) > person_times[key]]
        assert len(short) == (1 if "persons_exceed_person_times" in d["expected_warnings"] else 0), d["path"]


def _money_by_program(forms, unit: str) -> dict[str, dict[str, Decimal]]:
    own = allowed_region_codes(unit)
    out = defaultdict(lambda: defaultdict(Decimal))
    for r in _rows(forms["funds"]):
        m = out[r["program_code"]]
        internal = r["flow_type"] == "DISBURSEMENT" and r["recipient_region_code"] in own
        if r["flow_type"] == "OPENING_BALANCE":
            m["opening"] += r["amount_yuan"]
        elif r["flow_type"] == "INCOMING":
            m["incoming"] += r["amount_yuan"]
            if r["fund_source_code"] != "SUPERIOR_FEDERATION":
                m["raised"] += r["amount_yuan"]
            if r["in_kind"]:
                m["in_kind"] += r["amount_yuan"]
        elif internal:
            m["internal"] += r["amount_yuan"]
        else:
            m["spent"] += r["amount_yuan"]
    for r in _rows(forms["beneficiaries"]):
        if r["benefit_type"] == "CASH":
            out[r["program_code"]]["cash"] += r["amount_yuan"]
    return out


def test_cash_within_spending_within_incoming_per_drop_and_program(v2_tree):
    _, truth, typed = v2_tree
    seen = defaultdict(int)
    for d in _valid_months(truth):
        forms = typed[d["path"]]
        for r in _rows(forms["funds"]):
            seen["internal" if r["recipient_region_code"] else r["flow_type"]] += 1
            seen[("in_kind", r["in_kind"])] += 1
            seen[r["fund_source_code"]] += 1
        for program, m in _money_by_program(forms, d["prefecture_code"]).items():
            cash_over = m["cash"] > m["spent"]
            spending_over = m["spent"] > m["incoming"]
            assert cash_over == ("cash_exceeds_spending" in d["expected_warnings"] and program == catalog.CASH_CAPPED_PROGRAM), (d["path"], program)
            assert spending_over == ("spending_over_incoming" in d["expected_warnings"] and program == catalog.DEFICIT_PROGRAM), (d["path"], program)
    # Internal transfers, partners outside the system, goods in kind, money passed down, lottery funds for relief.
    assert seen["internal"] and seen["DISBURSEMENT"] and seen[("in_kind", True)] and seen[("in_kind", False)]
    assert seen["SUPERIOR_FEDERATION"] and seen["LOTTERY_CENTRAL"]


def test_ili_reports_for_its_own_counties_and_for_tacheng_and_altay(v2_tree):
    _, truth, typed = v2_tree
    prefixes = set()
    for d in truth["drops"]:
        if d["prefecture_code"] == "654000" and d["path"] in typed:
            for form in typed[d["path"]].values():
                prefixes |= {code[:4] for code in form.values["region_code"]}
    assert {"6540", "6542", "6543"} <= prefixes


def test_some_adults_of_inner_mongolia_and_ili_carry_retired_home_codes(v2_tree):
    _, truth, typed = v2_tree
    current = all_divisions()
    adults, retired = defaultdict(set), defaultdict(set)
    for d in _valid_months(truth):
        unit = d["prefecture_code"]
        for r in _rows(typed[d["path"]]["beneficiaries"]):
            number = r["id_number"]
            if _age(number, r["benefit_date"]) >= 19:
                adults[unit].add(number)
            if number[:6] not in current:
                retired[unit].add(number)
                assert number[:6] in {code for code, _, _ in catalog.RETIRED_HOME_CODES[unit]}
                assert int(number[6:10]) <= max(year for code, _, year in catalog.RETIRED_HOME_CODES[unit] if code == number[:6])
    for unit in ("150100", "654000", "150200"):
        assert 0.05 <= len(retired[unit]) / len(adults[unit]) <= 0.3, unit


def test_dirty_units_are_the_fields_own(v2_tree):
    _, truth, typed = v2_tree
    ref = reference_data()
    written = defaultdict(set)
    for path, forms in typed.items():
        for name, form in forms.items():
            for field_name, units in form.written_units.items():
                kind = form.form.field(field_name).unit
                for i, unit in enumerate(units):
                    if unit is None:
                        continue
                    written[(name, field_name)].add(unit)
                    if kind == UNIT_OF_PROGRAM:
                        expected = ref.programs[form.values["program_code"][i]].quantity_unit
                    elif kind == UNIT_OF_POPULATION_GROUP:
                        expected = ref.population_unit(form.values["population_group_code"][i])
                    else:
                        assert kind == UNIT_OF_INDICATOR
                        expected = ref.indicator_units[form.values["indicator_code"][i]]
                        if expected == "program quantity_unit":
                            expected = ref.programs[form.values["program_code"][i]].quantity_unit
                    assert unit == expected, (path, name, field_name, i)
            if name == "activity":
                for program, quantity in zip(form.values["program_code"], form.values["quantity"]):
                    assert (quantity is not None) == (ref.programs[program].quantity_unit is not None), (path, program)
    assert len(written[("activity", "quantity")]) >= 3 and written[("population", "population")] == {"人", "户"}


def test_annual_drops_plan_then_year_end_with_all_three_forms(v2_tree):
    _, truth, typed = v2_tree
    annual = {(d["prefecture_code"], d["period"], Path(d["path"]).name.split("_")[2].split(".")[0]): d
              for d in truth["drops"] if len(d["period"]) == 4 and d["expected_status"] != "rejected"}
    for unit in truth["parameters"]["prefecture_codes"]:
        last, this = annual[(unit, "2025", "plan")], annual[(unit, "2026", "plan")]
        end = annual[(unit, "2025", "year")]
        assert (last["expected_status"], end["expected_status"], this["expected_status"]) == ("superseded", "accepted", "accepted")
        assert set(typed[last["path"]]) == set(typed[this["path"]]) == {"targets", "population"}
        assert set(typed[end["path"]]) == {"targets", "population", "sites", "grassroots"}
        assert last["received_at"].startswith("2025-01") and end["received_at"].startswith("2026-01")
        assert not last["expected_warnings"] and not end["expected_warnings"]
        for r in _rows(typed[end["path"]]["sites"]):
            assert 0 <= r["new_this_year"] <= r["total"]
        assert (unit, "2026", "year") not in annual  # 2026 has not ended by the as-of date
    assert sorted(truth["newest_annual_drops"]) == sorted(d["path"] for d in annual.values() if d["expected_status"] == "accepted")


def _rate(numerator, denominator):
    if not denominator:
        return None
    return float((Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def test_truth_money_completion_coverage_and_sites_equal_the_files(v2_tree):
    _, truth, typed = v2_tree
    programs = reference_data().programs
    activity = defaultdict(lambda: defaultdict(int))  # (unit, year, program) -> measure -> sum
    persons, eligible = defaultdict(set), defaultdict(set)
    persons_ytd = defaultdict(dict)  # (unit, year, program) -> (region, group) -> the newest month's persons_ytd
    money = defaultdict(lambda: defaultdict(Decimal))
    for d in sorted(_valid_months(truth, ("accepted",)), key=lambda d: d["period"]):
        key = (d["prefecture_code"], d["period"][:4])
        forms = typed[d["path"]]
        for r in _rows(forms["activity"]):
            if r["persons_ytd"] is not None:
                persons_ytd[(*key, r["program_code"])][(r["region_code"], r["beneficiary_group_code"])] = r["persons_ytd"]
            a = activity[(*key, r["program_code"])]
            a["PERSON_TIMES"] += r["beneficiaries"]
            a["EVENTS"] += r["events"]
            a["VOLUNTEER_TIMES"] += r["volunteers"]
            a["QUANTITY"] += r["quantity"] or 0
        for r in _rows(forms["beneficiaries"]):
            persons[(*key, r["program_code"])].add(r["id_number"])
            if _eligible(r["program_code"], r["id_number"], r["benefit_date"]):
                eligible[(*key, r["program_code"])].add(r["id_number"])
        for program, m in _money_by_program(forms, d["prefecture_code"]).items():
            for name, value in m.items():
                money[(*key, program)][name] += value
    assert {(m["prefecture_code"], str(m["year"]), m["program_code"]): (m["raised_yuan"], m["incoming_yuan"], m["spent_yuan"],
            m["internal_transfers_yuan"], m["in_kind_yuan"], m["cash_paid_yuan"], m["opening_balance_yuan"]) for m in truth["money"]} == {
        key: tuple(str(Decimal(m[k]).quantize(Decimal("0.01")))
                   for k in ("raised", "incoming", "spent", "internal", "in_kind", "cash", "opening"))
        for key, m in money.items()}

    targets, population, sites = defaultdict(Decimal), defaultdict(int), defaultdict(lambda: [0, 0, 0])
    for path in truth["newest_annual_drops"]:
        unit, year = path.split("/")[:2]
        forms = typed[path]
        for r in _rows(forms["targets"]):
            targets[(year, unit, r["program_code"], r["indicator_code"])] += r["target_value"]
        for r in _rows(forms["population"]):
            population[(year, unit, r["population_group_code"])] += r["population"]
        for r in _rows(forms["sites"]) if "sites" in forms else ():
            t = sites[(year, unit, r["site_type_code"])]
            t[0], t[1], t[2] = t[0] + r["total"], t[1] + r["new_this_year"], t[2] + (r["people"] or 0)
    assert targets, "every unit sets targets"

    def reached(key, counted):
        # contract v3: persons_ytd's newest months added up, else a complete line list, else unknown
        if persons_ytd[key]:
            return sum(persons_ytd[key].values())
        return len(counted[key]) if programs[key[2]].line_list_complete else None

    def actual(year, unit, program, indicator):
        key = (unit, year, program)
        if indicator == "DISTINCT_PERSONS":
            return reached(key, persons)
        if indicator in MONEY_INDICATORS:
            return money[key][{"FUNDS_RAISED": "raised", "FUNDS_SPENT": "spent", "CASH_PAID": "cash"}[indicator]]
        return activity[key][indicator]

    expected = []
    for (year, unit, program, indicator), target in sorted(targets.items()):
        value = actual(year, unit, program, indicator)
        shown = (lambda v: str(Decimal(v).quantize(Decimal("0.01")))) if indicator in MONEY_INDICATORS else (
            lambda v: None if v is None else int(v))
        expected.append({"year": int(year), "reporting_unit_code": unit, "program_code": program, "indicator_code": indicator,
                         "target_value": shown(target), "actual_value": shown(value), "completion_rate": _rate(value, target)})
    key = lambda r: (r["year"], r["reporting_unit_code"], r["program_code"], r["indicator_code"])  # noqa: E731
    assert sorted(truth["target_completion"], key=key) == sorted(expected, key=key)
    rates = [r["completion_rate"] for r in expected if r["completion_rate"] is not None]
    assert 0.05 < sum(rates) / len(rates) < 0.6, "two months of a year against a full-year target"

    coverage = {(c["year"], c["reporting_unit_code"], c["program_code"]): c for c in truth["coverage"]}
    for (year, unit, group), value in population.items():
        for program, rules in programs.items():
            if rules.population_group_code == group:
                persons_reached = reached((unit, year, program), eligible)
                if persons_reached is not None or value:
                    assert coverage.pop((int(year), unit, program)) == {
                        "year": int(year), "reporting_unit_code": unit, "program_code": program, "population_group_code": group,
                        "persons_reached": persons_reached, "population": value,
                        "coverage_rate": None if persons_reached is None else _rate(persons_reached, value)}
    assert coverage == {}
    assert {(s["year"], s["reporting_unit_code"], s["site_type_code"]): [s["total"], s["new_this_year"], s["people"]]
            for s in truth["sites"]} == {(int(k[0]), k[1], k[2]): v for k, v in sites.items()}
    assert {s["year"] for s in truth["sites"]} == {2025}



@pytest.fixture(scope="module")
def year_end_tree(tmp_path_factory):
    """Two years over (2023, 2024) for four units, dirty cells: year-end drops in every format."""
    root = tmp_path_factory.mktemp("year_end") / "land"
    truth_path = root.with_name("truth.json")
    assert generate([str(root), "--prefectures", "4", "--months", "14", "--first-period", "2023-12", "--rows", "4",
                     "--dirty", "--seed", "11", "--truth", str(truth_path)]) == 0
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    written, formats = {}, set()
    for d in truth["drops"]:
        if d["path"] in truth["newest_annual_drops"] and "year_end" in d["path"]:
            parsed = read_drop(root / d["path"], d["prefecture_code"], d["period"])
            form = type_rows(parsed.forms["grassroots"], 2)
            assert form.findings == [], (d["path"], form.findings[:3])
            formats.add(d["format"])
            for r in _rows(form):
                written[(int(d["period"]), d["prefecture_code"], r.pop("region_code"))] = r
    return truth, written, formats


def test_year_end_drops_carry_grassroots_coverage_in_every_format_as_the_truth_says(year_end_tree):
    """Contract v3: the year-end drop holds grassroots, one row per county, each count within its total, an
    empty optional count unknown; the seeds' 100% claims hold for Ili and for at least one county of each unit."""
    truth, written, formats = year_end_tree
    measures = {"townships_with_federation": "townships", "villages_with_federation": "villages",
                "villages_with_womens_home": "villages", "committees_with_women": "villages", "chairs_in_committee": "villages"}
    assert formats == {"csv", "xlsx", "json"}
    assert {(g["year"], g["reporting_unit_code"], g["region_code"]): {k: v for k, v in g.items()
            if k not in ("year", "reporting_unit_code", "region_code")} for g in truth["grassroots"]} == written
    assert {g["year"] for g in truth["grassroots"]} == {2023, 2024}
    fully = defaultdict(int)
    for (year, unit, county), r in written.items():
        assert 3 <= r["townships"] <= 30 and 20 <= r["villages"] <= 400, (unit, county)
        for measure, total in measures.items():
            assert r[measure] is None or 0 <= r[measure] <= r[total], (unit, county, measure)
        assert r["townships_with_federation"] is not None and r["villages_with_federation"] is not None
        fully[(year, unit)] += all(r[m] == r[t] for m, t in measures.items())
        if unit == "654000":  # 全州县乡村妇联组织全覆盖, "两委"中100%有女性, 妇联主席100%进"两委"
            assert all(r[m] == r[measures[m]] for m in ("townships_with_federation", "villages_with_federation",
                                                        "committees_with_women", "chairs_in_committee")), county
    assert len(fully) == 8 and min(fully.values()) >= 1
    assert any(r[m] is None for r in written.values() for m in measures), "some county leaves an optional count empty"
    assert any(r[m] is not None and r[m] < r[measures[m]] for r in written.values() for m in measures)
