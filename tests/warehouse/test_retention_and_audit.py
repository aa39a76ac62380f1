"""Personal data leaves raw after its retention and the marts do not move; every change of raw is in the audit log.

Real ingest, real dbt builds and a real purge, on a warehouse of this module's own.
"""

from __future__ import annotations

import os
from datetime import datetime

import psycopg
import pytest

import hostile_drops as hd
from ingest_helpers import ingest_all, keyed_warehouse

KEY = "test-retention-key-" + "r" * 24
NIGHT = datetime.fromisoformat("2026-10-21T02:00:00+08:00")
OLD, RECENT = "2024-01", "2026-07"  # with 24 months' retention from 2026-10 the first is purged, the second kept
PERSON = hd.id_number("150100" + "19850315002")  # the same woman in both periods of 呼和浩特
SPACED_ID, OLD_CARD_ID = "150302 19850315 000X", "150302-850315-001"  # typed into free text
MART_TABLES = ("dim_beneficiary", "fct_benefits", "fct_fund_flows", "fct_program_activity", "rpt_cost_per_beneficiary")


def _rows(dsn, query, *params):
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()


def _checksums(dsn):
    return {t: _rows(dsn, f"select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from marts.{t} t")[0]
            for t in MART_TABLES}


@pytest.fixture(scope="module")
def purged(admin_dsn, dimensions_template, tmp_path_factory):
    from halfsky.orchestration import pipeline
    from halfsky.warehouse.retention import purge_personal_data

    with keyed_warehouse(admin_dsn, "halfsky_retention", KEY, template=dimensions_template) as dsn:
        base = tmp_path_factory.mktemp("retention")
        root, quarantine = base / "landing", base / "quarantine"
        for unit in ("150100", "150200"):
            for period in (OLD, RECENT):
                doc = hd.valid_doc(unit, period, counterparty=f"王秀英 身份证 {SPACED_ID}")
                doc["forms"]["activity"][0]["remarks"] = f"老身份证 {OLD_CARD_ID}"
                hd.write_json(root, unit, period, "a_first.json", doc)
        # a correction of the old month (supersedes a_first) and a rejected drop with bytes in quarantine
        hd.write_json(root, "150100", OLD, "b_correction.json", hd.valid_doc("150100", OLD, amount="80000.00"))
        bad = hd.valid_doc("150100", OLD)
        bad["forms"]["funds"][0]["fund_source_code"] = "NO_SUCH_SOURCE"
        hd.write_json(root, "150100", OLD, "c_bad.json", bad)
        ingest_all(dsn, root, quarantine, as_of=NIGHT)
        pipeline.build_marts(NIGHT, dsn=dsn)
        before = _checksums(dsn)
        counts = purge_personal_data(dsn, NIGHT, 24, KEY.encode(), actor="test purge")
        yield {"dsn": dsn, "before": before, "counts": counts, "quarantine": quarantine}


def test_purged_drops_hold_no_id_number_or_name_and_recent_ones_keep_theirs(purged):
    dsn = purged["dsn"]
    assert purged["counts"]["cutoff"] == "2024-10"
    assert purged["counts"]["drops"] == 4  # 2 units' old first drops, the correction, the rejected one
    by_period = dict(_rows(dsn, """
        select s.period, count(*) filter (where b.id_number ~ '^[0-9]{17}[0-9X]$' or b.name is not null)
        from raw.beneficiaries b join ingest.submissions s using (submission_id) group by s.period"""))
    assert by_period[OLD] == 0
    assert by_period[RECENT] == 2
    assert not _rows(dsn, "select 1 from raw.beneficiaries where id_number = %s and submission_id in "
                          "(select submission_id from ingest.submissions where period = %s)", PERSON, OLD)
    # one pseudonym per person, whatever number of drops named her
    assert _rows(dsn, "select count(*) from raw.purged_persons")[0][0] == 2
    assert not _rows(dsn, "select 1 from ingest.submissions where period = %s and personal_data_purged_at is null", OLD)


def test_id_numbers_typed_into_free_text_of_purged_drops_are_masked_and_recent_ones_kept(purged):
    """The purge masks with reference.mask_id_numbers: the spellings every log and mart is masked for."""
    dsn = purged["dsn"]
    texts = dict(_rows(dsn, """
        select s.period, string_agg(f.counterparty || ' ' || a.remarks, ' | ')
        from raw.funds f join raw.activity a using (submission_id) join ingest.submissions s using (submission_id)
        where s.drop_name = 'a_first.json' group by s.period"""))
    assert SPACED_ID not in texts[OLD] and OLD_CARD_ID not in texts[OLD] and "身份证号已隐去" in texts[OLD]
    assert SPACED_ID in texts[RECENT] and OLD_CARD_ID in texts[RECENT]
    assert purged["counts"]["free_text_cells_masked"] == 2 * 2  # 2 units' old drop, a counterparty and a remark each


def test_the_rejected_drops_bytes_leave_quarantine_and_its_report_stays(purged):
    (qpath,) = _rows(purged["dsn"], "select quarantine_path from ingest.submissions where drop_name = 'c_bad.json'")[0]
    assert not os.path.exists(f"{qpath}/drop")
    assert os.path.exists(f"{qpath}/report.html")
    assert purged["counts"]["quarantined_drops_deleted"] == 1


def test_marts_are_the_same_after_the_purge_and_after_a_full_rebuild_from_purged_raw(purged):
    from halfsky.orchestration import pipeline
    from halfsky.warehouse.dbt_runner import night_env, person_key_options, run_dbt

    dsn = purged["dsn"]
    assert _checksums(dsn) == purged["before"]
    run_dbt(["build", "--full-refresh", "--select", *(f"{m}+" for m in pipeline.FACT_SOURCES)], dsn=dsn,
            extra_env={**night_env(NIGHT), **person_key_options(KEY.encode())})
    assert _checksums(dsn) == purged["before"]
    # the woman named by a purged drop (a pseudonym) and by a kept one (her id number) is still one beneficiary
    assert _rows(dsn, "select count(distinct beneficiary_key) from marts.fct_benefits")[0][0] == 2


def test_a_second_purge_changes_nothing(purged):
    from halfsky.warehouse.retention import purge_personal_data


    again = purge_personal_data(purged["dsn"], NIGHT, 24, KEY.encode(), actor="test purge")
    assert again["drops"] == 0 and again["beneficiary_rows"] == 0


def test_the_audit_log_tells_one_prefecture_periods_history_with_who_and_when(purged):
    from halfsky.warehouse.audit import HISTORY_SQL

    with psycopg.connect(purged["dsn"]) as conn:
        history = conn.execute(HISTORY_SQL, ("150100", OLD)).fetchall()
    changes = [(row[1], row[3].rsplit("/", 1)[1]) for row in history]
    # received, then decided, in the order it happened; purged last, one line per drop
    assert changes[:2] == [("received", "a_first.json"), ("accepted", "a_first.json")]
    assert ("superseded", "a_first.json") in changes
    assert ("accepted", "b_correction.json") in changes
    assert ("rejected", "c_bad.json") in changes
    assert sorted(c for c in changes if c[0] == "purged") == [("purged", "a_first.json"), ("purged", "b_correction.json"),
                                                              ("purged", "c_bad.json")]
    actors = {row[1]: row[7] for row in history}
    assert actors["purged"] == "test purge"
    assert "@" in actors["accepted"]  # a command-line ingest names user@host
    assert {row[8] for row in history} == {"halfsky_loader"}  # every change made under the loader role
    assert all(row[0] is not None for row in history)


def test_the_loader_cannot_edit_or_silence_the_audit_log(purged):
    from halfsky.warehouse.roles import LOADER, assume

    with psycopg.connect(purged["dsn"], autocommit=True) as conn:
        assert assume(conn, LOADER)
        for statement in ("delete from audit.raw_changes",
                          "update audit.raw_changes set actor = 'nobody'",
                          "alter table ingest.submissions disable trigger submissions_audit",
                          "drop table audit.raw_changes"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_the_key_cannot_be_rotated_over_purged_persons(purged):
    from halfsky.warehouse.person_key import PersonKeyChanged, rotate

    with pytest.raises(PersonKeyChanged, match="purged"):
        rotate("2026-10-21", purged["dsn"])
