"""The yearly cash cap across prefectures falls on the payment that crosses it in benefit-date order (issue 22.9).

One woman is paid 6,000 of two-cancer relief (cap 10,000 a person a year) by 654000 for 2026-09 and 6,000 by
150600 for 2026-10. However the two drops are judged (either order in one night, or September a night after
October) the warning falls on 150600's October payment, the one that takes her year over 10,000. The real
ingest (halfsky.ingest.runner, what nightly_load's tasks run) on real Postgres; the marts by dbt.
"""

from __future__ import annotations

import json
from datetime import datetime

import psycopg
import pytest

import hostile_drops as hd
from ingest_helpers import keyed_warehouse
from halfsky.ingest.runner import pending_work, process_prefecture

WOMAN = hd.id_number("15040219700101002")  # born 1970: 56 in 2026
NIGHT_1 = datetime.fromisoformat("2026-11-05T02:00:00+08:00")
NIGHT_2 = datetime.fromisoformat("2026-11-06T02:00:00+08:00")
NIGHT_3 = datetime.fromisoformat("2026-11-07T02:00:00+08:00")
SEPTEMBER = ("654000", "2026-09")
OCTOBER = ("150600", "2026-10")


def _relief(unit: str, period: str, amount: str) -> dict:
    region = unit[:4] + "02"
    program = {"region_code": region, "program_code": "TWO_CANCER_RELIEF"}
    group = {**program, "beneficiary_group_code": "LOW_INCOME_WOMEN"}
    return {"prefecture_code": unit, "period": period, "forms": {
        "activity": [{**group, "beneficiaries": 1}],
        "funds": [{**program, "fund_source_code": "LOTTERY_CENTRAL", "flow_type": flow, "amount_yuan": amount,
                   "txn_date": f"{period}-0{day}", "voucher_no": f"R-{day}"}
                  for day, flow in ((1, "INCOMING"), (2, "EXPENDITURE"))],
        "beneficiaries": [{**group, "id_number": WOMAN, "name": "测试", "benefit_date": f"{period}-09",
                           "benefit_type": "CASH", "amount_yuan": amount}],
    }}


def _send(root, unit_period, name="relief.json", amount="6000", when="2026-11-03T10:00:00+08:00"):
    unit, period = unit_period
    return hd.arrived(hd.write_json(root, unit, period, name, _relief(unit, period, amount)), datetime.fromisoformat(when))


def _night(dsn, root, quarantine, as_of, unit_order=None):
    """One night's ingest, the units' batches in ``unit_order`` (as nightly_load's mapped tasks may finish)."""
    work, _ = pending_work(dsn, str(root), as_of)
    due = [path for batch in work for path in batch["paths"]]
    for unit in unit_order or sorted({path.split("/")[0] for path in due}):
        process_prefecture(dsn, str(root), str(quarantine), [p for p in due if p.startswith(unit + "/")], as_of=as_of)


def _warned(dsn) -> dict[tuple[str, str], tuple[int, list[int], str | None]]:
    """{(unit, period): (count in the submission log, warned rows, the first warning's text)} of accepted drops."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            """select s.prefecture_code, s.period, s.reasons,
                      array_remove(array_agg(f.row_number order by f.row_number), null), min(f.value)
               from ingest.submissions as s
               left join ingest.drop_findings as f on f.submission_id = s.submission_id and f.rule = 'cash_over_cap'
               where s.status = 'accepted' group by 1, 2, 3""").fetchall()
    return {(unit, period): (next((r["count"] for r in reasons if r["rule"] == "cash_over_cap"), 0), warned, text)
            for unit, period, reasons, warned, text in rows}


@pytest.fixture
def plain_warehouse(fresh_database):
    with fresh_database("cap", schema=True) as dsn:
        yield dsn


@pytest.mark.parametrize("unit_order", [("654000", "150600"), ("150600", "654000")], ids=["september_first", "october_first"])
def test_in_one_night_the_warning_falls_on_the_payment_that_crosses_the_cap_whatever_the_order(plain_warehouse, tmp_path,
                                                                                                 unit_order):
    root, quarantine = tmp_path / "landing", tmp_path / "quarantine"
    _send(root, SEPTEMBER, when="2026-10-05T10:00:00+08:00")
    _send(root, OCTOBER)
    _night(plain_warehouse, root, quarantine, NIGHT_1, unit_order)
    warned = _warned(plain_warehouse)
    assert warned[SEPTEMBER] == (0, [], None)
    count, rows, text = warned[OCTOBER]
    assert (count, rows) == (1, [1]) and "12,000.00 yuan to one person by this payment of 2026-10-09, cap 10,000.00" in text
    reports = list((quarantine / "150600" / "2026-10").glob("*/report.json"))
    if unit_order[0] == "654000":  # judged second: its own report says so
        (report,) = reports
        assert [f["rule"] for f in json.loads(report.read_text(encoding="utf-8"))["findings"]] == ["cash_over_cap"]
        assert "since submission" not in text
    else:  # judged first, with nothing to warn yet: no report was written, and none is written after the fact
        assert reports == []
        assert "since submission" in text and "benefit-date order" in text
    assert not list((quarantine / "654000").glob("*/*/report.json"))


def test_an_earlier_dated_payment_a_night_later_moves_the_warning_and_a_correction_lifts_it(admin_dsn, dimensions_template,
                                                                                           tmp_path):
    root, quarantine = tmp_path / "landing", tmp_path / "quarantine"
    with keyed_warehouse(admin_dsn, "halfsky_cap_marts", "cap-key-" + "c" * 32, template=dimensions_template) as dsn:
        from halfsky.orchestration import pipeline
        def quality() -> set[tuple]:
            pipeline.build_marts(as_of, dsn)
            with psycopg.connect(dsn) as conn:
                return set(conn.execute("select prefecture_code, period, form, row_number, field from marts.fct_data_quality "
                                        "where rule = 'cash_over_cap'").fetchall())

        _send(root, OCTOBER)
        as_of = NIGHT_1
        _night(dsn, root, quarantine, as_of)
        assert _warned(dsn)[OCTOBER] == (0, [], None)  # alone, 6,000: within the cap
        assert quality() == set()

        _send(root, SEPTEMBER, when="2026-11-05T12:00:00+08:00")  # after night 1's interval: judged on night 2
        as_of = NIGHT_2
        _night(dsn, root, quarantine, as_of)
        warned = _warned(dsn)
        assert warned[SEPTEMBER] == (0, [], None)  # September's own 6,000 is within the cap
        assert warned[OCTOBER][:2] == (1, [1]) and "since submission" in warned[OCTOBER][2]
        # The marts only redo the periods whose drop changed (654000/2026-09), yet show the moved warning.
        assert quality() == {("150600", "2026-10", "beneficiaries", 1, "amount_yuan")}

        _send(root, SEPTEMBER, "relief_corrected.json", amount="3000", when="2026-11-06T12:00:00+08:00")
        as_of = NIGHT_3
        _night(dsn, root, quarantine, as_of)
        warned = _warned(dsn)  # 3,000 + 6,000: nobody is over any more
        assert warned[SEPTEMBER] == (0, [], None) and warned[OCTOBER] == (0, [], None)
        assert quality() == set()
