"""Issue 9 made typing column-wise and ran the suites as polars expressions. Verdicts must not move:
every finding (rule, row, field, value, detail, order) and every loaded value of the generator's full
invalid set, clean and messy, is what the code before the change gave (tests/golden/, made with it)."""

from __future__ import annotations

import io
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from halfsky_dev.sample.__main__ import main as generate
from verdict_snapshot import verdict_snapshot

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "verdicts_before_issue9.json"
AS_OF = datetime.fromisoformat("2026-10-21T00:00:00+08:00")
TREES = {
    "invalid": ["--invalid", "all", "--with-warnings", "--seed", "2026"],
    "dirty_invalid": ["--dirty", "--invalid", "all", "--seed", "7"],  # GB18030, 万元, full-width digits, 是/否…
}


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("parity")
    for name, args in TREES.items():
        generate([str(out / name), "--rows", "60", "--first-period", "2026-07", "--months", "3", "--as-of", AS_OF.isoformat(),
                  "--truth", str(out / f"{name}.truth.json"), *args])
    return {name: out / name for name in TREES}


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def _differences(expected: dict, actual: dict) -> list[str]:
    return [f"{drop}: {key}" for drop in expected for key in expected[drop]
            if actual.get(drop, {}).get(key) != expected[drop][key]] + sorted(set(actual) - set(expected))


@pytest.mark.parametrize("tree", TREES)
def test_the_new_path_gives_every_verdict_finding_and_value_the_old_one_gave(trees, golden, tree, monkeypatch):
    monkeypatch.setenv("HALFSKY_VALIDATION_ENGINE", "polars")
    snapshot = verdict_snapshot(trees[tree], AS_OF)
    assert len(snapshot) == 53 and sum(d["status"] == "rejected" for d in snapshot.values()) == 29
    assert _differences(golden[tree], snapshot) == []


@pytest.mark.slow  # Great Expectations' own engine over every drop: over a minute, so not in `make check`
def test_great_expectations_itself_agrees_on_the_drops_its_suites_reject(trees, golden, monkeypatch):
    """The suites run by GX (HALFSKY_VALIDATION_ENGINE=gx) and by the polars evaluator give the same findings."""
    from halfsky.ingest.judging.suite_checks import _CHECKS, _suites

    suite_rules = {e["meta"]["rule"] for doc in _suites().values() for e in doc["expectations"] if e["type"] in _CHECKS}
    wanted = {drop for drop, d in golden["invalid"].items() if {f[0] for f in d["findings"]} & suite_rules}
    assert len(wanted) >= 10
    monkeypatch.setenv("HALFSKY_VALIDATION_ENGINE", "gx")
    root = trees["invalid"]
    subset = root.parent / "gx_subset"
    for drop in wanted:
        (subset / drop).parent.mkdir(parents=True, exist_ok=True)
        _copy(root / drop, subset / drop)
    snapshot = verdict_snapshot(subset, AS_OF)
    assert _differences({d: golden["invalid"][d] for d in wanted}, snapshot) == []


def _copy(source: Path, target: Path) -> None:
    import shutil

    (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)


def test_the_plain_text_lane_admits_only_characters_nfkc_keeps():
    from halfsky.ingest.judging.row_typing import text_lane_is_exact

    assert text_lane_is_exact()


TRICKY = {
    "region_code": ["150102", " 150102", "１５０１０２", "15010", "150102.0", "abcdef", "", "  "],
    "program_code": ["spring_bud", "SPRING_BUD ", "ＳＰＲＩＮＧ", "春蕾", "A-B"],
    "events": ["3", "03", "3场", "1,200", "-2", "2.0", "1.5", "９", "9999999999999999999", "1万", "3次", "3人"],
    "remarks": ["入户走访", " 入户", "入户 ", "（备注）", "a\tb", "x" * 600, "ｘ", "·、。"],
}
FUNDS_TRICKY = {
    "amount_yuan": ["475.27", "475.2", "475", "0.001", "-5", "-0", "1.2万", "12.3万元", "9999999999999999.99",
                    "10000000000000000", " 5", "5.", ".5", "1,000.00", "１２"],
    "txn_date": ["2026-09-03", "2026-9-3", "2026-02-30", "0000-01-01", "2026年9月3日", "45901", "2026/09/03"],
    "in_kind": ["true", "TRUE", "是", "否", "Y", "n", "1", "0", "maybe", " yes", "ｙｅｓ"],
    "voucher_no": ["收-2026-09-000001", "V1"],
}


@pytest.mark.parametrize("form_name, cells", [("activity", TRICKY), ("funds", FUNDS_TRICKY)])
def test_the_plain_lane_types_every_cell_as_the_exact_parser_does(form_name, cells):
    """Each tricky cell, typed in a column (plain lane where its pattern admits it), equals the exact lane's
    value and findings for the same cell alone."""
    from halfsky.ingest.reading.drop import FormTable
    from halfsky.contract.forms import FORMS
    from halfsky.ingest.judging.row_typing import _type_cell, type_rows

    form = FORMS[form_name]
    for name, column in cells.items():
        f = form.field(name)
        table = FormTable(form, [f], [Decimal(1)], [None], [pl.Series(column, dtype=pl.String)], len(column))
        typed = type_rows(table, 2)
        for k, cell in enumerate(column):
            expected_findings: list = []
            value, _ = _type_cell(form, f, cell, Decimal(1), None, 2 + k, expected_findings)
            assert typed.values[name][k] == value and type(typed.values[name][k]) is type(value), (name, cell)
            assert [x for x in typed.findings if x.row_number == 2 + k] == expected_findings, (name, cell)


CSVS = {
    "blank line inside": b"region_code,program_code\n150102,A\n\n150103,B\n",
    "ragged rows": b"region_code,program_code,extra\n150102\n150103,B,x,y\n",
    "quoted comma and quote": b'region_code,remarks\n150102,"a,b"\n150103,q"r\n',
    "crlf and bom": b"\xef\xbb\xbfregion_code,remarks\r\n150102,x\r\n",
    "trailing blank rows": b"region_code,remarks\n150102,x\n,\n\n",
    "old-Mac line breaks": b"region_code,remarks\r150102,x\r150103,y\r",
}


@pytest.mark.parametrize("name", CSVS)
def test_polars_reads_a_csv_as_the_csv_module_did(name, tmp_path, monkeypatch):
    from halfsky.contract.forms import FORMS
    from halfsky.ingest.reading import csv_folder, drop

    path = tmp_path / "activity.csv"
    path.write_bytes(CSVS[name])

    def read(parsed):
        return csv_folder._read_csv_table(path, FORMS["activity"], parsed)

    with pytest.raises(drop.DropRejected):  # activity lacks required columns: same rejection either way
        read(drop.ParsedDrop("csv", {}))
    monkeypatch.setattr(drop, "_header", lambda form, header, parsed: ([None] * len(header), [Decimal(1)] * len(header),
                                                                       [None] * len(header)))
    by_polars = read(drop.ParsedDrop("csv", {}))
    monkeypatch.setattr(pl, "read_csv", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("use the csv module")))
    by_module = read(drop.ParsedDrop("csv", {}))
    blank = lambda v: v in (None, "")  # noqa: E731  a short line reads as missing cells in one, empty in the other
    rows = lambda t: [[None if blank(c) else c for c in r] for r in t.rows]  # noqa: E731
    assert by_polars.row_count == by_module.row_count and rows(by_polars) == rows(by_module)
