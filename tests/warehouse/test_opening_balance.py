"""Contract v3 opening balances (OPENING_BALANCE, 年初结余) as the code lists now allow them.

Small hand-made drops of 阿拉善盟 (152900) in 2023, which no other test file uses, through the real pipeline
into the real warehouse, then the marts by dbt. An opening balance is accepted only in a January drop, dated
1 January, zero allowed and no voucher needed; it is neither raised nor spent, but spending is weighed
against it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import psycopg
import pytest

import hostile_drops as hd
from ingest_helpers import AS_OF, ingest_all, verdicts_by_path

UNIT, COUNTY = "152900", "152921"  # 阿拉善盟, 阿拉善左旗


def _funds(flow, amount, day, voucher="", source="GOV_COUNTY", program="MOTHER_PARCEL"):
    # The voucher column stays a required column of the form; an opening balance's cell in it may be empty.
    return {"region_code": COUNTY, "program_code": program, "fund_source_code": source, "flow_type": flow,
            "amount_yuan": amount, "txn_date": day, "voucher_no": voucher}


def _doc(period, *rows):
    return {"prefecture_code": UNIT, "period": period, "forms": {"funds": list(rows)}}


DROPS = {
    # January: 8,000 held at 1 January, a zero balance for a second source, then 3,000 in and 10,000 spent.
    # Spending (10,000) is over incoming (3,000) but not over opening plus incoming (11,000): no warning.
    "january": ("2023-01", _doc("2023-01",
                                _funds("OPENING_BALANCE", "8000", "2023-01-01"),
                                _funds("OPENING_BALANCE", "0", "2023-01-01", source="CORPORATE"),
                                _funds("INCOMING", "3000", "2023-01-05", "IN-1"),
                                _funds("INCOMING", "700", "2023-01-06", "IN-2", source="FOUNDATION"),
                                _funds("EXPENDITURE", "10000", "2023-01-20", "OUT-1"))),
    # The next year: no declaration, so 2023's closing balances carry over.
    "next_year": ("2024-02", _doc("2024-02",
                                  _funds("INCOMING", "500", "2024-02-03", "IN-9"),
                                  _funds("EXPENDITURE", "200", "2024-02-04", "OUT-9", source="FOUNDATION"))),
    # An opening balance in March: that rule alone, though its date (1 January) is outside March.
    "march": ("2023-03", _doc("2023-03",
                              _funds("OPENING_BALANCE", "500", "2023-01-01"),
                              _funds("INCOMING", "100", "2023-03-02", "IN-3"))),
    # In January but not dated 1 January; and a second balance for the same region, program and source.
    "misdated": ("2023-01", _doc("2023-01",
                                 _funds("OPENING_BALANCE", "100", "2023-01-15"),
                                 _funds("OPENING_BALANCE", "200", "2023-01-01"))),
    # A negative balance, and an ordinary flow with zero amount and no voucher: still errors.
    "negative": ("2023-01", _doc("2023-01",
                                 _funds("OPENING_BALANCE", "-1", "2023-01-01"),
                                 _funds("INCOMING", "0", "2023-01-03"))),
}


@pytest.fixture(scope="module")
def verdicts(dimensions, tmp_path_factory):
    root = tmp_path_factory.mktemp("opening_balance") / "landing"
    rel = {}
    # Received in order, so the January drop that is checked in the marts is the last accepted one.
    for minute, key in enumerate(("misdated", "negative", "march", "january", "next_year")):
        period, document = DROPS[key]
        path = hd.arrived(hd.write_json(root, UNIT, period, f"{key}.json", document),
                          datetime.fromisoformat(f"2023-02-01T10:0{minute}:00+08:00"))
        rel[key] = str(path.relative_to(root))
    ingest_all(dimensions, root, root.parent / "quarantine", as_of=AS_OF)
    by_path = verdicts_by_path(dimensions, list(rel.values()))
    return {"dsn": dimensions, **{key: by_path[path] for key, path in rel.items()}}


def test_a_january_balance_of_zero_without_voucher_is_accepted_and_weighed_against_spending(verdicts):
    assert verdicts["january"] == ("accepted", [])
    assert verdicts["next_year"] == ("accepted", [])


def test_an_opening_balance_outside_january_is_that_rule_alone(verdicts):
    status, findings = verdicts["march"]
    assert status == "rejected"
    assert findings == ["opening_balance_outside_january:flow_type"]


def test_an_opening_balance_is_dated_1_january_and_one_per_region_program_and_source(verdicts):
    status, findings = verdicts["misdated"]
    assert status == "rejected"
    assert "opening_balance_date:txn_date" in findings
    assert findings.count("duplicate_key:region_code+program_code+fund_source_code") == 2


def test_a_negative_balance_and_a_zero_flow_without_voucher_are_still_errors(verdicts):
    status, findings = verdicts["negative"]
    assert status == "rejected"
    assert sorted(findings) == ["min_value:amount_yuan", "min_value:amount_yuan", "required:voucher_no"]


def test_an_opening_balance_is_neither_raised_nor_spent_in_the_marts(verdicts):
    from halfsky.orchestration import pipeline
    dsn = verdicts["dsn"]
    pipeline.build_marts(AS_OF, dsn)
    with psycopg.connect(dsn) as conn:
        flows = conn.execute("""select flow_type, direction, amount_yuan, signed_amount_yuan, is_raised, is_spent
                                from marts.fct_fund_flows where prefecture_code = %s and period = '2023-01'
                                order by flow_type, amount_yuan""", (UNIT,)).fetchall()
        monthly = conn.execute("""select sum(incoming_cash_yuan), sum(raised_yuan), sum(spent_cash_yuan)
                                  from marts.rpt_funds_monthly where prefecture_code = %s and period = '2023-01'
                                    and fund_source_code = 'GOV_COUNTY'""", (UNIT,)).fetchone()
    assert flows == [
        ("EXPENDITURE", "out", Decimal("10000.00"), Decimal("-10000.00"), False, True),
        ("INCOMING", "in", Decimal("700.00"), Decimal("700.00"), True, False),
        ("INCOMING", "in", Decimal("3000.00"), Decimal("3000.00"), True, False),
        ("OPENING_BALANCE", "balance", Decimal("0.00"), Decimal("0.00"), False, False),
        ("OPENING_BALANCE", "balance", Decimal("8000.00"), Decimal("8000.00"), False, False),
    ]
    assert monthly == (Decimal("3000.00"), Decimal("3000.00"), Decimal("10000.00"))


def test_a_years_closing_balance_is_its_opening_plus_incoming_less_spent_and_carries_over(verdicts):
    with psycopg.connect(verdicts["dsn"]) as conn:  # the marts were built by the test before
        rows = conn.execute("""select fund_source_code, year, opening_balance_yuan, incoming_yuan, raised_yuan, spent_yuan,
                                      closing_balance_yuan, balance_basis
                               from marts.rpt_funds_balance where prefecture_code = %s order by 1, 2""", (UNIT,)).fetchall()
    D = Decimal
    assert rows == [
        ("CORPORATE", 2023, D("0.00"), D("0"), D("0"), D("0"), D("0.00"), "opening_balance"),
        # no declaration: the balance since the first report, carried into 2024
        ("FOUNDATION", 2023, None, D("700.00"), D("700.00"), D("0"), D("700.00"), "since_first_report"),
        ("FOUNDATION", 2024, D("700.00"), D("0"), D("0"), D("200.00"), D("500.00"), "since_first_report"),
        # 8,000 declared + 3,000 in - 10,000 spent; 2024 opens with it
        ("GOV_COUNTY", 2023, D("8000.00"), D("3000.00"), D("3000.00"), D("10000.00"), D("1000.00"), "opening_balance"),
        ("GOV_COUNTY", 2024, D("1000.00"), D("500.00"), D("500.00"), D("0"), D("1500.00"), "opening_balance"),
    ]
