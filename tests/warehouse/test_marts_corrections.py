"""Marts over several nights: corrections that omit forms (told in their report and the night's digest), corrections
that carry an empty or misnamed form (rejected: the period's money stays), id numbers typed into free text, a changed
person key.

Real ingest, real dbt builds (with their data tests) on a warehouse of this module's own.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

import hostile_drops as hd
from halfsky.orchestration.night_digest_queries import night_digest
from halfsky.orchestration.night_digest_text import format_digest
from ingest_helpers import ingest_all, keyed_warehouse

KEY_A, KEY_B = "test-key-A-" + "a" * 32, "test-key-B-" + "b" * 32
NIGHT_1 = datetime.fromisoformat("2026-08-20T02:00:00+08:00")
NIGHT_2 = datetime.fromisoformat("2026-08-22T02:00:00+08:00")
NIGHT_3 = datetime.fromisoformat("2026-08-24T02:00:00+08:00")
ID_IN_TEXT = "150100198503150022"  # valid check digit: the contract's own example person
# As senders also type them: spaced, with an X, and a first-generation card's 15 digits with hyphens.
SPACED_ID, OLD_CARD_ID = "150302 19850315 000X", "150302-850315-001"


@pytest.fixture(scope="module")
def warehouse_nights(admin_dsn, dimensions_template, tmp_path_factory):
    from halfsky.orchestration import pipeline
    with keyed_warehouse(admin_dsn, "halfsky_corrections", KEY_A, template=dimensions_template) as dsn:
        base = tmp_path_factory.mktemp("nights")
        root, quarantine = base / "landing", base / "quarantine"
        # Night 1: 呼和浩特 and 包头 send July in full; a counterparty carries an id number and a formula.
        v1 = hd.valid_doc("150100", "2026-07", counterparty=f"王秀英(身份证{ID_IN_TEXT})")
        v1["forms"]["funds"].append({**v1["forms"]["funds"][0], "voucher_no": ID_IN_TEXT, "amount_yuan": "500.00",
                                     "counterparty": '=HYPERLINK("http://evil.example/","点击")'})
        july_deadline = datetime.fromisoformat("2026-08-05T09:00:00+08:00")
        hd.arrived(hd.write_json(root, "150100", "2026-07", "a_v1.json", v1), july_deadline)
        baotou = hd.valid_doc("150200", "2026-07", counterparty=f"王秀英 身份证 {SPACED_ID}")
        baotou["forms"]["funds"][0]["voucher_no"] = OLD_CARD_ID
        hd.arrived(hd.write_json(root, "150200", "2026-07", "a_v1.json", baotou), july_deadline)
        ingest_all(dsn, root, quarantine, as_of=NIGHT_1)
        pipeline.build_marts(NIGHT_1, dsn=dsn)
        yield {"dsn": dsn, "root": root, "quarantine": quarantine, "v1": v1}


def _rows(dsn, query, *params):
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()


def _checksums(dsn):
    tables = ("dim_beneficiary", "fct_benefits", "fct_fund_flows", "fct_program_activity")
    return {t: _rows(dsn, f"select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from marts.{t} t")[0][0] for t in tables}


def test_id_numbers_typed_into_free_text_are_masked_in_marts_and_kept_in_raw(warehouse_nights):
    dsn = warehouse_nights["dsn"]
    marts = _rows(dsn, "select counterparty, voucher_no from marts.fct_fund_flows where prefecture_code = '150100' order by amount_yuan")
    assert marts == [('=HYPERLINK("http://evil.example/","点击")', "[身份证号已隐去 id number masked]"),
                     ("王秀英(身份证[身份证号已隐去 id number masked])", "V-2026-07-1")]
    assert not _rows(dsn, "select 1 from marts.fct_fund_flows t where t::text like %s", f"%{ID_IN_TEXT}%")
    assert _rows(dsn, "select counterparty, voucher_no from marts.fct_fund_flows where prefecture_code = '150200'") == [
        ("王秀英 身份证 [身份证号已隐去 id number masked]", "[身份证号已隐去 id number masked]")]
    assert len(_rows(dsn, "select 1 from raw.funds where counterparty like %s or voucher_no = %s", f"%{ID_IN_TEXT}%", ID_IN_TEXT)) == 2
    # The analyst's view of the table shows no id either.
    analyst = psycopg.conninfo.make_conninfo(dsn, user="halfsky_analyst")
    with psycopg.connect(analyst) as conn:
        assert not conn.execute("select 1 from marts.fct_fund_flows t where t::text like %s", (f"%{ID_IN_TEXT}%",)).fetchall()


def test_a_correction_that_omits_forms_leaves_nothing_of_the_replaced_drop(warehouse_nights):
    from halfsky.orchestration import pipeline
    dsn, root = warehouse_nights["dsn"], warehouse_nights["root"]
    assert _rows(dsn, "select sum(amount_yuan) from marts.fct_fund_flows where prefecture_code = '150100'") == [(Decimal("70500.00"),)]
    other_before = _rows(dsn, "select * from marts.fct_fund_flows where prefecture_code = '150200' order by 1, 2, 3, 4")
    # Night 2: 呼和浩特 resends July with the activity form only (55 person-times, no money, no line list).
    v2 = hd.valid_doc("150100", "2026-07")
    v2["forms"] = {"activity": [{**v2["forms"]["activity"][0], "beneficiaries": 55}]}
    hd.write_json(root, "150100", "2026-07", "b_v2.json", v2)
    hd.arrived(root / "150100" / "2026-07" / "b_v2.json", datetime.fromisoformat("2026-08-21T09:00:00+08:00"))
    ingest_all(dsn, root, warehouse_nights["quarantine"], as_of=NIGHT_2, run_id="night-2")
    pipeline.build_marts(NIGHT_2, dsn=dsn)  # its data tests (relationships, reconciliation to raw) pass
    (v2_id,), = _rows(dsn, "select submission_id from ingest.submissions where drop_path = '150100/2026-07/b_v2.json'")
    assert _rows(dsn, "select count(*) from marts.fct_fund_flows where prefecture_code = '150100'") == [(0,)]
    assert _rows(dsn, "select count(*) from marts.fct_benefits where prefecture_code = '150100'") == [(0,)]
    assert _rows(dsn, "select beneficiaries, submission_id from marts.fct_program_activity where prefecture_code = '150100'") == [(55, v2_id)]
    assert _rows(dsn, "select count(*) from marts.fct_benefits b left join marts.dim_beneficiary d using (beneficiary_key) "
                      "where d.beneficiary_key is null") == [(0,)]
    assert _rows(dsn, "select * from marts.fct_fund_flows where prefecture_code = '150200' order by 1, 2, 3, 4") == other_before
    # Allowed (any subset of forms), but the sender is told what left: in the drop's report and in the night's digest.
    report = json.loads((warehouse_nights["quarantine"] / "150100" / "2026-07" / str(v2_id) / "report.json").read_text("utf-8"))
    assert report["status"] == "accepted"
    dropped = {f["form"]: f["value"] for f in report["findings"] if f["rule"] == "form_dropped_by_correction"}
    (v1_id,), = _rows(dsn, "select submission_id from ingest.submissions where drop_path = '150100/2026-07/a_v1.json'")
    assert dropped == {"funds": f"提交 {v1_id} 的 2 行，金额 70,500.00 元 / 2 rows of submission {v1_id}, 70,500.00 yuan",
                       "beneficiaries": f"提交 {v1_id} 的 1 行 / 1 row of submission {v1_id}"}
    _, text, html = format_digest(night_digest(dsn, "night-2", NIGHT_2))
    assert "本次运行接收的更正缺少原有报表 / Corrections accepted by this run that lack a form: 1" in text
    assert f"- 150100 呼和浩特市 2026-07 「b_v2.json」\n  资金收支 funds：{dropped['funds']}\n  受益人明细 beneficiaries：" in text
    assert "70,500.00 yuan" in html


def test_a_correction_with_an_empty_or_misnamed_funds_form_is_rejected_and_the_money_stays(warehouse_nights):
    """Night 3: 包头 resends July twice, as a csv folder whose funds.csv is 0 bytes and as a workbook whose funds sheet
    is named 资金收支表. Both were accepted before, and July's money left fct_fund_flows with no one told."""
    from halfsky.orchestration import pipeline
    dsn, root = warehouse_nights["dsn"], warehouse_nights["root"]
    before = _rows(dsn, "select * from marts.fct_fund_flows where prefecture_code = '150200' order by 1, 2, 3, 4")
    assert sum(r[0] for r in _rows(dsn, "select amount_yuan from marts.fct_fund_flows where prefecture_code = '150200'")) == \
        Decimal("70000.00")
    forms = hd.valid_doc("150200", "2026-07", amount="123.00")["forms"]
    arrived = datetime.fromisoformat("2026-08-23T09:00:00+08:00")
    folder = hd.write_csv_folder(root, "150200", "2026-07", "b_folder", {
        "activity.csv": forms["activity"], "funds.csv": b"", "beneficiaries.csv": forms["beneficiaries"]})
    for path in (*folder.iterdir(), folder):  # a folder arrives with its newest file
        hd.arrived(path, arrived)
    hd.arrived(hd.write_xlsx(root, "150200", "2026-07", "c_book.xlsx", hd.xlsx_bytes({"forms": forms}, {"funds": ["资金收支表"]})),
               arrived)
    ingest_all(dsn, root, warehouse_nights["quarantine"], as_of=NIGHT_3, run_id="night-3")
    pipeline.build_marts(NIGHT_3, dsn=dsn)
    statuses = dict(_rows(dsn, "select drop_name, status from ingest.submissions where prefecture_code = '150200'"))
    assert statuses == {"a_v1.json": "accepted", "b_folder": "rejected", "c_book.xlsx": "rejected"}
    assert _rows(dsn, "select * from marts.fct_fund_flows where prefecture_code = '150200' order by 1, 2, 3, 4") == before
    digest = night_digest(dsn, "night-3", NIGHT_3)
    assert {(d.drop_name, tuple(r.rule for r in d.rules)) for d in digest.rejected} == {
        ("b_folder", ("empty_form",)), ("c_book.xlsx", ("misnamed_form",))}
    assert digest.dropped_forms == ()
    _, text, _ = format_digest(digest)
    assert "empty_form ×1：报表文件或工作表是空的" in text and "misnamed_form ×1：工作表或文件名与某报表名称相近" in text


def test_a_changed_person_key_is_refused_before_anything_is_built(warehouse_nights, monkeypatch):
    from halfsky.orchestration import pipeline
    from halfsky.warehouse.person_key import PersonKeyChanged

    dsn = warehouse_nights["dsn"]
    before = _checksums(dsn)
    monkeypatch.setenv("HALFSKY_PERSON_HMAC_KEY", KEY_B)
    with pytest.raises(PersonKeyChanged, match="python -m halfsky.warehouse.person_key rotate"):
        pipeline.build_marts(NIGHT_2, dsn=dsn)
    assert _checksums(dsn) == before, "the marts stay as the old key built them"


def test_rotating_the_person_key_rekeys_every_beneficiary_consistently(warehouse_nights, monkeypatch):
    from halfsky.orchestration import pipeline
    from halfsky.warehouse.person_key import PersonKeyChanged, main as person_key

    dsn = warehouse_nights["dsn"]
    keys_before = {r[0] for r in _rows(dsn, "select beneficiary_key from marts.dim_beneficiary where beneficiary_key <> '-1'")}
    monkeypatch.setenv("HALFSKY_PERSON_HMAC_KEY", KEY_B)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE_DB", dsn)
    assert person_key(["check"]) == 1
    assert person_key(["rotate", "--as-of", "2026-08-22"]) == 0
    assert person_key(["check"]) == 0
    keys_after = {r[0] for r in _rows(dsn, "select beneficiary_key from marts.dim_beneficiary where beneficiary_key <> '-1'")}
    assert keys_after and not keys_after & keys_before
    assert _rows(dsn, "select count(*) from marts.fct_benefits b left join marts.dim_beneficiary d using (beneficiary_key) "
                      "where d.beneficiary_key is null or b.beneficiary_key = '-1'") == [(0,)]
    pipeline.build_marts(NIGHT_2, dsn=dsn)  # the new key is now the warehouse's key
    monkeypatch.setenv("HALFSKY_PERSON_HMAC_KEY", KEY_A)
    with pytest.raises(PersonKeyChanged):
        pipeline.build_marts(NIGHT_2, dsn=dsn)
