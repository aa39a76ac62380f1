"""Incremental dbt nights: the same marts as a full refresh, nobody hashed when nothing is new, and data
tests limited to the night's changes that still catch a bad new row.

Real Postgres, real dbt (pipeline.build_marts, the nightly path). The history is written straight into
raw.* and ingest.submissions by the benchmark's set-based generator (bench/dbt_nights.py), small.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from dbt_nights import add_drop  # noqa: E402

KEY = "test-key-nights-" + "n" * 32
NIGHT_1 = datetime.fromisoformat("2026-10-20T02:00:00+08:00")  # Tuesday
NIGHT_2 = datetime.fromisoformat("2026-10-21T02:00:00+08:00")
NIGHT_3 = datetime.fromisoformat("2026-10-22T02:00:00+08:00")
SUNDAY = datetime.fromisoformat("2026-10-25T02:00:00+08:00")
ROWS = 300  # per drop: 30 activity, 90 funds, 180 line-list rows naming 153 persons
MARTS = ("dim_beneficiary", "fct_benefits", "fct_fund_flows", "fct_program_activity", "fct_data_quality",
         "fct_targets", "fct_population", "fct_sites", "fct_grassroots", "rpt_reporting_completeness")


def _rows(dsn, query, *params):
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()


def _fingerprints(dsn):
    tables = {f"marts.{t}" for t in MARTS} | {"intermediate.int_person_keys"}
    return {t: _rows(dsn, f"select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from {t} t")[0]
            for t in sorted(tables)}


def _hmac_calls(dsn) -> int:
    """hmac() calls in this database so far (track_functions = all): every person hashed, by any model."""
    (calls,), = _rows(dsn, "select coalesce(sum(calls), 0)::int from pg_stat_user_functions where funcname = 'hmac'")
    return calls


@pytest.fixture(scope="module")
def nights(admin_dsn, fresh_database, dimensions_template):
    from halfsky.orchestration import pipeline

    with fresh_database("nights", template=dimensions_template) as dsn:  # prepared, the dimensions built
        yield from _nights(admin_dsn, dsn, pipeline)


def _nights(admin_dsn, dsn, pipeline):
    name = dsn.rsplit("/", 1)[1]
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'alter database "{name}" set track_functions = \'all\'')
    previous = os.environ.get("HALFSKY_PERSON_HMAC_KEY")
    os.environ["HALFSKY_PERSON_HMAC_KEY"] = KEY
    with psycopg.connect(dsn) as conn:
        for index in range(3):
            add_drop(conn, index, ROWS, NIGHT_1 - timedelta(days=3 - index))
    pipeline.build_marts(NIGHT_1, dsn=dsn)
    yield dsn
    if previous is None:
        os.environ.pop("HALFSKY_PERSON_HMAC_KEY", None)
    else:
        os.environ["HALFSKY_PERSON_HMAC_KEY"] = previous


def test_a_night_with_nothing_new_hashes_no_one_and_changes_nothing(nights, caplog):
    from halfsky.orchestration import pipeline
    before, calls = _fingerprints(nights), _hmac_calls(nights)
    assert before["marts.dim_beneficiary"][0] > 1
    with caplog.at_level("INFO", logger="halfsky.warehouse.dbt_runner"):
        pipeline.build_marts(NIGHT_2, dsn=nights)
    dbt_output = [r.getMessage() for r in caplog.records if r.name == "halfsky.warehouse.dbt_runner"]
    assert any("Completed successfully" in line for line in dbt_output), dbt_output[-20:]
    # another as-of than the night before, and still the night before's parse (dbt_runner.night_env)
    assert not [line for line in dbt_output if "Unable to do partial parsing" in line]
    assert _hmac_calls(nights) == calls, "a night with nothing new hashes no one"
    assert _fingerprints(nights) == before
    assert _rows(nights, "select count(*) from intermediate.int_night_submissions where changed") == [(0,)]


def test_an_incremental_night_equals_a_full_refresh(nights):
    """A correction supersedes drop 1 (its persons partly vanish, new ones appear) and a new prefecture-period arrives."""
    from halfsky.orchestration import pipeline
    from halfsky.warehouse.dbt_runner import night_env, person_key_options, run_dbt

    dsn = nights
    (replaced,), = _rows(dsn, "select submission_id from ingest.submissions where drop_name = 'bench_00001.json'")
    with psycopg.connect(dsn) as conn:
        correction = add_drop(conn, 1, 200, NIGHT_3 - timedelta(hours=2), drop_name="zz_correction.json", person_offset=5000)
        new_period = add_drop(conn, 3, ROWS, NIGHT_3 - timedelta(hours=1))
    # ids the night must hash: the new ones, and those of the replaced drop nobody names any more (to find their key)
    (new_ids,), = _rows(dsn, """
        select count(distinct id_number) from raw.beneficiaries
        where submission_id in (%s, %s) and id_number not in (select id_number from intermediate.int_person_keys)""",
                        correction, new_period)
    (vanished,), = _rows(dsn, """
        select count(distinct id_number) from raw.beneficiaries
        where submission_id = %s and id_number not in (
            select id_number from raw.beneficiaries where submission_id in (
                select submission_id from ingest.submissions where status = 'accepted'))""", replaced)
    assert new_ids > 0 and vanished > 0
    calls = _hmac_calls(dsn)
    pipeline.build_marts(NIGHT_3, dsn=dsn)
    assert _hmac_calls(dsn) - calls == new_ids + vanished
    assert _rows(dsn, "select count(*) from marts.fct_benefits where submission_id = %s", replaced) == [(0,)]
    assert _rows(dsn, "select count(distinct submission_id) from marts.fct_fund_flows where submission_id in (%s, %s)",
                 correction, new_period) == [(2,)]
    incremental = _fingerprints(dsn)
    run_dbt(["build", "--full-refresh", "--select", *(f"{m}+" for m in pipeline.FACT_SOURCES)], dsn=dsn,
            extra_env={**night_env(NIGHT_3), **person_key_options(KEY.encode())})
    assert _fingerprints(dsn) == incremental
    assert _rows(dsn, "select count(*) from marts.fct_benefits b left join marts.dim_beneficiary d using (beneficiary_key) "
                      "where d.beneficiary_key is null or b.beneficiary_key = '-1'") == [(0,)]


def test_limited_checks_catch_a_bad_new_row_and_sundays_check_everything(nights):
    from halfsky.orchestration import pipeline
    from halfsky.warehouse.dbt_runner import DbtFailed

    dsn = nights
    # An old period goes bad behind dbt's back: an incremental night does not look at it...
    with psycopg.connect(dsn) as conn:
        conn.execute("""update marts.fct_fund_flows set flow_type = 'OLD_BAD'
                        where ctid = (select ctid from marts.fct_fund_flows where period = '2024-01' limit 1)""")
        bad = add_drop(conn, 4, ROWS, NIGHT_3 + timedelta(hours=20))
        conn.execute("update raw.funds set flow_type = 'BOGUS' where submission_id = %s and row_number = 2", (bad,))
    # ...but a bad row of the night's new drop fails its test (its rows stay, as dbt leaves a model whose test failed)
    with pytest.raises(DbtFailed, match="accepted_values_fct_fund_flows_flow_type"):
        pipeline.build_marts(NIGHT_3 + timedelta(days=1), dsn=dsn)
    assert _rows(dsn, "select count(*) from marts.fct_fund_flows where submission_id = %s", bad) == [(90,)]
    # the drop comes again as a correction of itself, the row fixed: the night passes, the old bad row unseen...
    with psycopg.connect(dsn) as conn:
        fixed = add_drop(conn, 4, ROWS, NIGHT_3 + timedelta(hours=30), drop_name="zz_fixed.json")
    pipeline.build_marts(NIGHT_3 + timedelta(days=2), dsn=dsn)
    assert _rows(dsn, "select count(*) from marts.fct_fund_flows where submission_id = %s", fixed) == [(90,)]
    # ...and the weekly full check (a Sunday) finds it
    with pytest.raises(DbtFailed, match="accepted_values_fct_fund_flows_flow_type"):
        pipeline.build_marts(SUNDAY, dsn=dsn)
