"""The generator's truth file agrees with the drops it wrote (read back with plain readers)."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from halfsky.sample.__main__ import main as generate
from halfsky.sample.generator import INVALID_KINDS


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
    statuses = [d["expected_status"] for d in truth["drops"]]
    assert statuses.count("superseded") == 1 and statuses.count("duplicate") == 1
    assert statuses.count("accepted") == 3 * 2  # the newest drop of every prefecture-period


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
    text = "".join(p.read_bytes().decode("gb18030", errors="replace") for p in root.rglob("*.csv"))
    assert "万" in text or "（" in text  # Chinese units or headers appear somewhere
    assert {Path(d["path"]).suffix for d in truth["drops"]} >= {".xlsx", ".json", ""}


def test_help_describes_the_knobs(capsys):
    with pytest.raises(SystemExit):
        generate(["--help"])
    out = capsys.readouterr().out
    for knob in ("--rows", "--dirty", "--invalid", "--prefectures", "--months"):
        assert knob in out
