"""Contract v3 outliers (min_max_outlier): the modified z-score over the key's last 12 months, exact cases.

Hand-made monthly drops of 黄石市 (420200), 衢州市 (330800) and 汕头市 (440500) in 2023, judged in January 2024
(no other test file sends drops for these units in those years), through the real pipeline into the real
warehouse. Each expected warning is worked out by hand next to its series.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
import pytest

import hostile_drops as hd
from ingest_helpers import AS_OF, ingest_all

JUDGED = "2024-01"
YEAR_BEFORE = [f"2023-{m:02d}" for m in range(1, 13)]


def _activity(region, program, group, beneficiaries, events=0):
    return {"region_code": region, "program_code": program, "beneficiary_group_code": group,
            "beneficiaries": beneficiaries, "events": events}


def _funds(region, program, flow, amount, period, voucher, **more):
    return {"region_code": region, "program_code": program, "fund_source_code": "GOV_PREFECTURE", "flow_type": flow,
            "amount_yuan": amount, "txn_date": f"{period}-05", "voucher_no": voucher, **more}


# 黄石市: a drop every month of 2023, then January 2024. Series per key, oldest first, then the judged value.
HUANGSHI = "420200"
SERIES = {
    # Zero-heavy: mean 0.42, sd 1.44, so mean ± 3 sd flagged 8; the median is 0 and the MAD 0, and 8 is less
    # than 10 away from it: not an outlier.
    "zero_heavy": (("420202", "LEGAL_AID", "GENERAL_PUBLIC"), [0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0], 8),
    # A true spike. Sorted: 90 95 96 98 100 100 100 100 102 104 105 110, median (100 + 100) / 2 = 100; deviations
    # sorted 0 0 0 0 2 2 4 4 5 5 10 10, MAD (2 + 4) / 2 = 3; 3.5 × 3 / 0.6745 = 15.57: 85–115 is expected.
    "spike": (("420203", "TWO_CANCER_SCREEN", "RURAL_WOMEN"), [100, 110, 95, 105, 100, 90, 100, 104, 96, 100, 102, 98], 400),
    # MAD zero, half the median (20) is the reach: 60 is 20 away (not more), 61 is 21 away.
    "half_median_in": (("420204", "MOTHER_PARCEL", "LOW_INCOME_WOMEN"), [40] * 12, 60),
    "half_median_out": (("420205", "MOTHER_PARCEL", "LOW_INCOME_WOMEN"), [40] * 12, 61),
    # MAD zero, half the median is 6 but an outlier is at least 10 away: 21 is 9 away, 22 is 10 away.
    "floor_in": (("420222", "CARE_VISITS", "ELDERLY_ALONE"), [12] * 12, 21),
    "floor_out": (("420281", "CARE_VISITS", "ELDERLY_ALONE"), [12] * 12, 22),
}
# persons_ytd, a running count, on keys of their own after those above (their person-times are steady: 150, 60).
# 100, 200, … 1,200 in 2023: median (600 + 700) / 2 = 650; deviations 50 50 150 150 250 250 350 350 450 450 550 550,
# MAD (250 + 350) / 2 = 300; 3.5 × 300 / 0.6745 = 1,556.7: 0–2,206 expected. January's restart at 90 is inside it.
RISING = [100 * m for m in range(1, 13)]
PERSONS_YTD = {
    "ytd_restart": (("420202", "TWO_CANCER_SCREEN", "RURAL_WOMEN"), RISING, 90),
    "ytd_spike": (("420204", "TWO_CANCER_SCREEN", "RURAL_WOMEN"), RISING, 5000),
    # Left empty in seven months: those rows are months of the key but no value, so five values are too few
    # (were they 0, the median would be 0 and 5,000 an outlier).
    "ytd_mostly_empty": (("420205", "LEGAL_AID", "GENERAL_PUBLIC"), [10, 20, 30, 40, 50] + [None] * 7, 5000),
}
# Cash spent by 大冶市 (420281) on relief. Sorted: 9700 9800 9900 9900 10000 10000 10000 10000 10100 10100 10200 10300,
# median 10,000; deviations 0 0 0 0 100 100 100 100 200 200 300 300, MAD 100; 3.5 × 100 / 0.6745 = 518.90.
DAYE_SPENT = [10000, 10200, 9800, 10100, 9900, 10000, 10300, 9700, 10000, 10100, 9900, 10000]


def _huangshi(period: str, judged: bool) -> dict:
    month = None if judged else YEAR_BEFORE.index(period)
    activity = [_activity(*key, judged_value if judged else series[month], events=5 if name == "spike" else 0)
                for name, (key, series, judged_value) in SERIES.items()]
    activity += [dict(_activity(*key, 60 if key[1] == "LEGAL_AID" else 150), persons_ytd=judged_value if judged else series[month])
                 for key, series, judged_value in PERSONS_YTD.values()]
    funds = [
        _funds(HUANGSHI, "TWO_CANCER_RELIEF", "INCOMING", "500000", period, f"{period}-IN"),
        # Paid each month to a hospital outside the federation: spent by the prefecture's own key.
        _funds(HUANGSHI, "TWO_CANCER_RELIEF", "DISBURSEMENT", "10000", period, f"{period}-HOSPITAL", counterparty="黄石市妇幼保健院"),
        _funds("420281", "TWO_CANCER_RELIEF", "EXPENDITURE", "90000" if judged else str(DAYE_SPENT[month]), period, f"{period}-DAYE"),
    ]
    if judged:
        funds += [
            # An internal transfer to 大冶市 is not spent: the prefecture's spending stays at 10,000, its median.
            _funds(HUANGSHI, "TWO_CANCER_RELIEF", "DISBURSEMENT", "200000", period, f"{period}-TO-DAYE",
                   recipient_region_code="420281", counterparty="大冶市妇联"),
            # In-kind is not cash: 阳新县 spends no cash on relief this month, so it has no value to judge.
            _funds("420222", "TWO_CANCER_RELIEF", "EXPENDITURE", "300000", period, f"{period}-KIND", in_kind=True),
        ]
    return {"prefecture_code": HUANGSHI, "period": period, "forms": {"activity": activity, "funds": funds}}


# 衢州市: only five months in the window. 1,000 against 100 five times: no verdict either way.
QUZHOU, QUZHOU_KEY = "330800", ("330802", "TWO_CANCER_SCREEN", "RURAL_WOMEN")
QUZHOU_MONTHS = ["2023-02", "2023-04", "2023-06", "2023-08", "2023-10"]

# 汕头市: drops in six months of 2023 only, so the six other months are missing, not 0.
SHANTOU = "440500"
SHANTOU_MONTHS = ["2023-02", "2023-03", "2023-05", "2023-08", "2023-09", "2023-11"]
# 100 in every drop. Missing months left out: median 100, MAD 0, and 40 is 60 away (more than 50 and at least
# 10): an outlier. Were they 0, the median would be 50 and the MAD 50, and 40 ordinary.
STEADY_KEY = ("440507", "SKILLS_TRAINING", "URBAN_WOMEN")
# 100 in two drops only; the four drops without the key count as 0: median 0, MAD 0, so 100 is an outlier.
# Were they missing, two months would be too few for a verdict.
SPORADIC_KEY = ("440511", "SKILLS_TRAINING", "URBAN_WOMEN")


def _shantou(period: str) -> dict:
    activity = [_activity(*STEADY_KEY, 40 if period == JUDGED else 100)]
    if period in (JUDGED, "2023-03", "2023-09"):
        activity.append(_activity(*SPORADIC_KEY, 100))
    return {"prefecture_code": SHANTOU, "period": period, "forms": {"activity": activity}}


def _quzhou(period: str) -> dict:
    return {"prefecture_code": QUZHOU, "period": period,
            "forms": {"activity": [_activity(*QUZHOU_KEY, 1000 if period == JUDGED else 100)]}}


@pytest.fixture(scope="module")
def outliers(dimensions, tmp_path_factory):
    root = tmp_path_factory.mktemp("outliers") / "landing"
    drops = {}
    for unit, months, make in ((HUANGSHI, YEAR_BEFORE, lambda p: _huangshi(p, p == JUDGED)),
                               (QUZHOU, QUZHOU_MONTHS, _quzhou), (SHANTOU, SHANTOU_MONTHS, _shantou)):
        for period in [*months, JUDGED]:
            path = hd.arrived(hd.write_json(root, unit, period, "month.json", make(period)),
                              datetime.fromisoformat(f"{period}-08T10:00:00+08:00"))
            drops[(unit, period)] = str(path.relative_to(root))
    ingest_all(dimensions, root, root.parent / "quarantine", as_of=AS_OF)
    with psycopg.connect(dimensions) as conn:
        rows = conn.execute(
            """select s.drop_path, s.status, f.rule, f.form, f.row_number, f.field, f.value
               from ingest.submissions as s left join ingest.drop_findings as f using (submission_id)
               where s.drop_path = any(%s)""", (list(drops.values()),)).fetchall()
    statuses, findings = {}, {}
    for path, status, rule, form, row_number, field, value in rows:
        statuses[path] = status
        findings.setdefault(path, set())
        if rule == "min_max_outlier":
            findings[path].add((form, row_number, field, value))
    assert set(statuses.values()) == {"accepted"}, statuses
    return {key: findings[path] for key, path in drops.items()}


def _row(name: str) -> int:
    """The activity row of a 黄石市 key (JSON rows are numbered from 1 in list order)."""
    return list(SERIES).index(name) + 1


def test_history_months_draw_no_outlier_before_six_months_are_known(outliers):
    # 黄石市's first six months have fewer than six earlier months; the rest are steady series.
    for period in YEAR_BEFORE:
        assert outliers[(HUANGSHI, period)] == set(), period


def test_the_modified_z_score_flags_the_spike_and_the_mad_zero_cases_past_their_reach(outliers):
    assert {f for f in outliers[(HUANGSHI, JUDGED)] if f[2] != "persons_ytd"} == {
        ("activity", _row("spike"), "beneficiaries", "400: median 100, expected 85–115"),
        ("activity", _row("half_median_out"), "beneficiaries", "61: median 40, expected 20–60"),
        ("activity", _row("floor_out"), "beneficiaries", "22: median 12, expected 3–21"),
        # Row 3 is the 大冶市 expenditure; the internal transfer and the in-kind row are not cash spent.
        ("funds", 3, "amount_yuan",
         "420281 TWO_CANCER_RELIEF: cash spent this month 90,000.00, median 10,000.00, expected 9,481.10–10,518.90"),
    }


def test_a_zero_heavy_series_that_mean_and_sd_flagged_is_not_an_outlier(outliers):
    assert not any(row == _row("zero_heavy") for form, row, _, _ in outliers[(HUANGSHI, JUDGED)] if form == "activity")


def test_fewer_than_six_months_with_a_drop_give_no_verdict(outliers):
    assert all(outliers[(QUZHOU, period)] == set() for period in [*QUZHOU_MONTHS, JUDGED])


def test_a_drop_without_the_key_counts_as_zero_and_a_month_without_a_drop_is_missing(outliers):
    assert outliers[(SHANTOU, JUDGED)] == {
        ("activity", 1, "beneficiaries", "40: median 100, expected 50–150"),
        ("activity", 2, "beneficiaries", "100: median 0, expected 0–9"),
    }


def test_persons_ytd_is_judged_and_an_empty_one_is_missing_not_zero(outliers):
    ytd_row = len(SERIES) + list(PERSONS_YTD).index("ytd_spike") + 1
    assert {f for f in outliers[(HUANGSHI, JUDGED)] if f[2] == "persons_ytd"} == {
        ("activity", ytd_row, "persons_ytd", "5,000: median 650, expected 0–2,206"),
    }
