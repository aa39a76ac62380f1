"""A real `airflow dags test nightly_load` over 6 prefectures x 3 months, then the marts against the truth.

Then `airflow dags test build_marts` builds the marts as the scheduler would on the raw asset: Cosmos' one
`dbt build` (the producer task), then a box per seed, model and test reading its result. The figures checked
against the truth are the ones that DAG built. tests/deploy/test_celery_executor.py checks that the marts it
builds equal an in-process build's (halfsky.orchestration.pipeline), which the later tests here use.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from conftest import REPO_ROOT
from dag_site import MARTS_AS_OF, latest_run_id, run_child, xcom
from ingest_helpers import AIRFLOW, AS_OF, airflow_home, ingest_all, make_tree
from halfsky_dev.local_postgres import drop_database, ensure_database

# build_marts' boxes run as Cosmos' sensors in the module's build (besides the build itself): a seed, models,
# a model's tests and a test of several models.
WATCHED = ("dbt_producer_watcher", "programs.seed", "fct_fund_flows.run", "fct_fund_flows.test",
           "dim_beneficiary.run", "rpt_reporting_completeness.run", "assert_fund_flows_reconcile_to_raw_test")
MART_TABLES = ("dim_beneficiary", "fct_program_activity", "fct_fund_flows", "fct_benefits", "rpt_reporting_completeness")
LOGICAL_DATE = "2026-10-21"  # build_marts builds for the end of its data interval: dag_site.MARTS_AS_OF


@pytest.fixture(scope="module")
def loaded(admin_dsn, tmp_path_factory):
    base = tmp_path_factory.mktemp("marts")
    root, truth = make_tree(base, "--prefectures", "6", "--months", "3", "--rows", "20", "--dirty", "--invalid", "all",
                            "--resubmissions", "2", "--duplicates", "1", "--with-warnings", "--seed", "11")
    hostile = _add_hostile_entries(root, truth)
    name = f"halfsky_marts_{uuid.uuid4().hex[:8]}"
    dsn = ensure_database(admin_dsn, name)
    home = base / "airflow"
    env = airflow_home(home, dsn, root, base / "quarantine", "test-key-" + "k" * 32)
    env.pop("WAREHOUSE_DSN", None)  # the warehouse is AIRFLOW_CONN_WAREHOUSE_DB's, for Airflow and pipeline alike
    logs = {}

    def step(name, args):
        run = subprocess.run(args, env=env, capture_output=True, text=True)
        logs[name] = run.stdout + run.stderr
        (base / f"{name}.log").write_text(logs[name])
        assert run.returncode == 0, logs[name][-4000:]

    # What the scheduler does: nightly_load updates the raw asset, build_marts runs on it (here, by hand). Of
    # the 120 boxes that read a node's result from the one build, WATCHED run here as Cosmos' sensors; the
    # others, marked successful unrun, are read by the triggerer's code, as the scheduler runs them
    # (test_build_marts_is_one_dbt_build_with_a_box_per_node_that_reads_its_result).
    step("nightly_load", [AIRFLOW, "dags", "test", "nightly_load", LOGICAL_DATE])
    step("build_marts", [AIRFLOW, "dags", "test", "build_marts", LOGICAL_DATE, "--mark-success-pattern",
                         r"dbt\.(?!(?:%s)$).*" % "|".join(re.escape(box) for box in WATCHED)])
    assert xcom(home / "airflow.db", "build_marts", latest_run_id(home / "airflow.db", "build_marts"),
                "resolve_as_of") == MARTS_AS_OF
    yield {"dsn": dsn, "root": root, "truth": truth, "base": base, "env": env, "log": logs["nightly_load"],
           "marts_log": logs["build_marts"], "airflow_db": home / "airflow.db", "hostile": hostile}
    drop_database(admin_dsn, name)


JUNK_FOLDERS = 1100  # more prefecture folders than Airflow maps tasks (1024)


def _add_hostile_entries(root: Path, truth: dict) -> dict[str, str]:
    """What a real landing zone also gets: a name that is not UTF-8, a link out of the tree, and a
    flood of folders that are no reporting unit. Returns {drop_path: expected rule}."""
    unit, period = truth["drops"][0]["prefecture_code"], "2026-09"
    folder = os.fsencode(root / unit / period)
    arrived = datetime.fromisoformat("2026-10-05T12:00:00+08:00").timestamp()
    with open(folder + b"/0_\xff.json", "wb") as fh:
        fh.write(b"{}")
    os.utime(folder + b"/0_\xff.json", (arrived, arrived))
    os.symlink("/etc/passwd", folder + b"/passwd.json")
    os.utime(folder + b"/passwd.json", (arrived, arrived), follow_symlinks=False)
    expected = {f"{unit}/{period}/0_\\xff.json": "unsafe_name", f"{unit}/{period}/passwd.json": "not_a_regular_file"}
    for code in range(800000, 800000 + JUNK_FOLDERS):
        junk = root / str(code) / period / "x.json"
        junk.parent.mkdir(parents=True)
        junk.write_text("{}")
        os.utime(junk, (arrived, arrived))
        expected[f"{code}/{period}/x.json"] = "unknown_prefecture"
    return expected


def _rows(dsn, query, *params):
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()


def test_the_dag_run_gives_every_drop_its_expected_status(loaded):
    statuses = dict(_rows(loaded["dsn"], "select drop_path, status from ingest.submissions"))
    expected = {d["path"]: d["expected_status"] for d in loaded["truth"]["drops"]}
    assert statuses == {**expected, **{path: "rejected" for path in loaded["hostile"]}}
    counts = Counter(expected.values())
    assert counts["accepted"] == 24  # 6 units x 3 months, and each unit's 2026 plan
    rejected = counts["rejected"] + len(loaded["hostile"])
    # 6 reporting units and every folder that is no unit (as one), in two batches: small units share a task.
    assert (f"drops this run: 24 accepted, {rejected} rejected, 1 duplicate, {counts['superseded']} superseded, "
            "from 7 units in 2 tasks") in loaded["log"]


def _task_instances(loaded, dag_id):
    import sqlite3

    with sqlite3.connect(loaded["airflow_db"]) as db:
        return db.execute("select task_id, map_index, state, rendered_map_index from task_instance where dag_id = ?",
                          (dag_id,)).fetchall()


def test_the_grid_names_every_unit_with_rejected_drops_in_a_red_box(loaded):
    """What an admin sees without opening a log: labelled ingest boxes, and a failed needs_attention box per unit
    with a rejected drop, while the run itself (halfsky's health) succeeded."""
    tis = _task_instances(loaded, "nightly_load")
    ingest = {label for task_id, _, state, label in tis if task_id == "ingest_prefecture"}
    flagged = {label: state for task_id, _, state, label in tis if task_id == "needs_attention"}
    rejected_units = {d["prefecture_code"] for d in loaded["truth"]["drops"] if d["expected_status"] == "rejected"}
    for unit in rejected_units & {d["prefecture_code"] for d in loaded["truth"]["drops"] if d["expected_status"] == "accepted"}:
        label = next(label for label in flagged if label.startswith(unit))
        assert flagged[label] == "failed" and " rejected" in label, flagged
    # Small units share an ingest task; its box names the first and last unit and the batch's counts.
    assert any(" units): " in i and "rejected" in i and "accepted" in i for i in ingest), ingest
    # Folders that are no reporting unit are named, so an admin can find them.
    assert any(label.startswith("not reporting units (") and "800000" in label and flagged[label] == "failed" for label in flagged)
    import sqlite3

    with sqlite3.connect(loaded["airflow_db"]) as db:
        assert dict(db.execute("select dag_id, state from dag_run").fetchall()) == {"nightly_load": "success",
                                                                                    "build_marts": "success"}
    # The run's health is a green box of its own, not a pink "skipped" one beside the red needs_attention.
    assert {state for task_id, _, state, _ in tis if task_id == "every_task_succeeded"} == {"success"}
    # A red needs_attention box logs its drops and one closing line naming the unit: no traceback.
    failed = [label for label, state in flagged.items() if state == "failed"]
    closing = [line for line in loaded["log"].splitlines() if "Task exited" in line]
    assert len(closing) == len(failed) and all(any(label in line for line in closing) for label in failed), closing
    assert "AirflowFailException" not in loaded["log"] and "Traceback" not in loaded["log"]
    # Each drop's verdict is one line of its unit's task log, with the report; GX's registration noise is gone.
    assert "great_expectations" not in loaded["log"]
    first_rejected = next(d for d in loaded["truth"]["drops"] if d["expected_status"] == "rejected"
                          and d["prefecture_code"] in rejected_units)
    line = next(li for li in loaded["log"].splitlines() if f"REJECTED  {first_rejected['path']}" in li)
    assert "report: " in line and "/report.html" in line


def _task_log(log: str, task_id: str) -> str:
    """One task's lines of a `dags test` log: from its start to its end."""
    start = log.index(f"[DAG TEST] starting task_id={task_id} ")
    return log[start:log.index(f"[DAG TEST] end task task_id={task_id} ", start)]


def test_build_marts_is_one_dbt_build_with_a_box_per_node_that_reads_its_result(loaded):
    """Every task of the run succeeded; each seed, model and test is a task of its own; dbt ran once, in the
    producer; the watched boxes ran as Cosmos' sensors and each read its own node's verdict from that build; and
    every box's node has a verdict of its own there, which the triggerer's code reads as green, a test of
    several models included (never Cosmos' "no information", which passes whatever happened)."""
    tis = _task_instances(loaded, "build_marts")
    states = Counter(state for _, _, state, _ in tis)
    assert states == {"success": len(tis)}
    dbt_tasks = {task_id for task_id, *_ in tis if task_id.startswith("dbt.")}
    assert {f"dbt.{box}" for box in WATCHED} <= dbt_tasks
    assert len(dbt_tasks) > 100  # every seed, model and test of the project
    log = loaded["marts_log"]
    ran = set(re.findall(r"\[DAG TEST\] starting task_id=(\S+) ", log))
    assert ran == {task_id for task_id, *_ in tis if not task_id.startswith("dbt.")} | {f"dbt.{b}" for b in WATCHED}
    events = _box_trigger_events(loaded, latest_run_id(loaded["airflow_db"], "build_marts"), "every box")
    assert len(events) == len(dbt_tasks) - 2  # all but the producer and Cosmos' EmptyOperator after it
    assert {kind for kind, _ in events} == {"TaskSuccessEvent"}, [e for e in events if e[0] != "TaskSuccessEvent"]
    producer = _task_log(log, "dbt.dbt_producer_watcher")
    assert re.search(r"OK created sql incremental model marts\.fct_fund_flows", producer), producer[-3000:]
    assert re.search(r"Done\. PASS=\d+ WARN=\d+ ERROR=0 SKIP=0", producer), producer[-3000:]
    assert len(re.findall(r"Running with dbt=", log)) == 1  # one dbt build, no box ran dbt again
    for task_id, node in (("dbt.fct_fund_flows.run", "model__halfsky__fct_fund_flows_status"),
                          ("dbt.fct_fund_flows.test", "model__halfsky__fct_fund_flows_tests_status"),
                          ("dbt.assert_fund_flows_reconcile_to_raw_test",
                           "test__halfsky__assert_fund_flows_reconcile_to_raw_tests_status")):
        assert f"XCom key '{node}'" in _task_log(log, task_id), task_id
    assert "There is no information about the node" not in log
    assert "marts after this build" in log
    # The person key reaches dbt as a masked session setting, never as text in a log: the build includes the
    # person-keyed dim_beneficiary, which builds with the key.
    assert loaded["env"]["HALFSKY_PERSON_HMAC_KEY"].encode().hex() not in log


def test_hostile_entries_are_rejected_by_their_own_rule_in_the_airflow_run(loaded):
    rules = dict(_rows(loaded["dsn"], "select drop_path, reasons->0->>'rule' from ingest.submissions where drop_path = any(%s)",
                       list(loaded["hostile"])))
    assert rules == loaded["hostile"]
    assert "root:" not in "".join(p.read_text(errors="replace") for p in (loaded["base"] / "quarantine").rglob("*") if p.is_file())


def test_fund_flows_equal_the_truth_to_the_fen(loaded):
    rows = _rows(loaded["dsn"], """
        select f.prefecture_code, f.period, p.program_code, f.flow_type, sum(f.amount_yuan), count(*)
        from marts.fct_fund_flows f join marts.dim_program p using (program_key) group by 1, 2, 3, 4""")
    assert {r[:4]: (r[4], r[5]) for r in rows} == {
        (t["prefecture_code"], t["period"], t["program_code"], t["flow_type"]): (Decimal(t["amount_yuan"]), t["rows"])
        for t in loaded["truth"]["totals"]["funds"]}


def test_activity_and_benefits_equal_the_truth(loaded):
    activity = _rows(loaded["dsn"], """
        select a.prefecture_code, a.period, p.program_code, sum(a.events), sum(a.beneficiaries), sum(a.volunteers), count(*)
        from marts.fct_program_activity a join marts.dim_program p using (program_key) group by 1, 2, 3""")
    assert {r[:3]: tuple(r[3:]) for r in activity} == {
        (t["prefecture_code"], t["period"], t["program_code"]): (t["events"], t["beneficiaries"], t["volunteers"], t["rows"])
        for t in loaded["truth"]["totals"]["activity"]}
    benefits = _rows(loaded["dsn"], """
        select b.prefecture_code, b.period, p.program_code, coalesce(sum(b.amount_yuan), 0), count(*)
        from marts.fct_benefits b join marts.dim_program p using (program_key) group by 1, 2, 3""")
    assert {r[:3]: (r[3], r[4]) for r in benefits} == {
        (t["prefecture_code"], t["period"], t["program_code"]): (Decimal(t["amount_yuan"]), t["rows"])
        for t in loaded["truth"]["totals"]["benefits"]}


def test_distinct_beneficiaries_equal_the_truth_and_no_key_dangles(loaded):
    (persons,), = _rows(loaded["dsn"], "select count(*) from marts.dim_beneficiary where beneficiary_key <> '-1'")
    assert persons == loaded["truth"]["distinct_persons"]
    (dangling,), = _rows(loaded["dsn"], "select count(*) from marts.fct_benefits where beneficiary_key = '-1'")
    assert dangling == 0


def test_no_personal_data_reaches_marts(loaded):
    columns = {r[0] for r in _rows(loaded["dsn"], "select column_name from information_schema.columns where table_schema = 'marts'")}
    assert not columns & {"id_number", "name"}
    ids = [r[0] for r in _rows(loaded["dsn"], "select distinct id_number from raw.beneficiaries limit 50")]
    for table in MART_TABLES:
        (hits,), = _rows(loaded["dsn"], f"select count(*) from marts.{table} t where t::text like any(%s)", [f"%{i}%" for i in ids])
        assert hits == 0, table


def test_completeness_counts_expected_units_only(loaded):
    rows = _rows(loaded["dsn"], "select prefecture_code, period, status, on_time, drops_rejected, report "
                                "from marts.rpt_reporting_completeness")
    keys = [(r[0], r[1]) for r in rows]
    assert len(rows) == len({(r[0], r[1], r[5]) for r in rows})
    by_key = {(r[0], r[1], r[5]): r for r in rows}
    truth = loaded["truth"]
    for d in truth["drops"]:
        if d["expected_status"] == "accepted":
            report = "monthly" if "-" in d["period"] else "annual_plan"
            assert by_key[(d["prefecture_code"], d["period"], report)][2] == "accepted"
            assert by_key[(d["prefecture_code"], d["period"], report)][3] == ("late_drop" not in d["expected_warnings"])
    # 2026 has not ended: its year-end count is not due yet, and no row asks for it
    assert not [k for k in by_key if k[1] == "2026" and k[2] == "annual_year_end"]
    # 371500 (聊城) is active from 2023-01: no 2022 row may exist for it.
    assert not [k for k in keys if k[0] == "371500" and k[1][:4] < "2023"]
    assert all(p <= "2026-09" for _, p in keys)


def test_target_completion_and_coverage_equal_the_truth(loaded):
    """The generator works the figures out from the rows it wrote; the marts from what was loaded."""
    truth = loaded["truth"]
    completion = {(r[0], r[1], r[2], r[3]): r[4:] for r in _rows(loaded["dsn"], """
        select year, region_code, program_code, indicator_code, target_value, actual_value, completion_rate
        from marts.rpt_target_completion where region_level = 'reporting_unit'""")}
    assert truth["target_completion"]
    for t in truth["target_completion"]:
        key = (t["year"], t["reporting_unit_code"], t["program_code"], t["indicator_code"])
        target, actual, rate = completion[key]
        expected_actual = None if t["actual_value"] is None else Decimal(str(t["actual_value"]))
        assert (target, actual) == (Decimal(str(t["target_value"])), expected_actual), key
        assert (rate is None and t["completion_rate"] is None) or float(rate) == pytest.approx(t["completion_rate"], abs=1e-4), key
    coverage = {(r[0], r[1], r[2]): r[3:] for r in _rows(loaded["dsn"], """
        select year, region_code, program_code, persons_reached, population, coverage_rate
        from marts.rpt_coverage where region_level = 'reporting_unit'""")}
    assert truth["coverage"]
    for c in truth["coverage"]:
        key = (c["year"], c["reporting_unit_code"], c["program_code"])
        reached, population, rate = coverage[key]
        assert (reached, population) == (c["persons_reached"], c["population"]), key
        assert (rate is None and c["coverage_rate"] is None) or float(rate) == pytest.approx(c["coverage_rate"], abs=1e-4), key


def test_ili_whole_prefecture_is_its_own_counties_plus_tacheng_and_altay(loaded):
    rows = dict(((r[0], r[1]), r[2]) for r in _rows(loaded["dsn"], """
        select region_level, region_code, sum(value_ytd) from marts.rpt_year_over_year
        where period = '2026-09' and measure = 'PERSON_TIMES' and region_code in ('654000', '654200', '654300')
        group by 1, 2"""))
    assert rows[("prefecture", "654200")] > 0 and rows[("prefecture", "654300")] > 0  # Ili reports for both
    assert rows[("reporting_unit", "654000")] == (rows[("prefecture", "654000")] + rows[("prefecture", "654200")]
                                                   + rows[("prefecture", "654300")])


def test_analyst_role_reads_marts_and_is_refused_raw(loaded):
    analyst = psycopg.conninfo.make_conninfo(loaded["dsn"], user="halfsky_analyst")
    with psycopg.connect(analyst) as conn:
        assert conn.execute("select current_user").fetchone()[0] == "halfsky_analyst"
        assert conn.execute("select count(*) from marts.fct_fund_flows").fetchone()[0] > 0
        assert conn.execute("select count(*) from marts.rpt_funds_balance where closing_balance_yuan is not null").fetchone()[0] > 0
    for table in ("raw.beneficiaries", "raw.funds", "ingest.submissions", "intermediate.int_persons"):
        with psycopg.connect(analyst) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"select 1 from {table} limit 1")


def _fingerprints(dsn):
    return {t: _rows(dsn, f"select md5(string_agg(t::text, '|' order by t::text)) from marts.{t} t")[0][0] for t in MART_TABLES}


def test_rerun_without_new_drops_leaves_every_mart_identical(loaded, monkeypatch):
    from halfsky.orchestration import pipeline
    before = _fingerprints(loaded["dsn"])
    monkeypatch.setenv("HALFSKY_PERSON_HMAC_KEY", loaded["env"]["HALFSKY_PERSON_HMAC_KEY"])
    assert pipeline.discover_drops(AS_OF, dsn=loaded["dsn"], landing=str(loaded["root"])) == []
    pipeline.build_marts(AS_OF, dsn=loaded["dsn"])
    assert _fingerprints(loaded["dsn"]) == before


def test_a_resubmission_replaces_only_its_period(loaded, monkeypatch):
    from halfsky.orchestration import pipeline
    root, dsn = loaded["root"], loaded["dsn"]
    newest = next(p for p in loaded["truth"]["newest_drops"] if p.endswith(".json"))
    prefecture, period, name = newest.split("/")
    before = dict(((r[0], r[1]), r[2]) for r in _rows(dsn, "select distinct prefecture_code, period, submission_id from marts.fct_fund_flows"))
    # The corrected drop: the same report with every amount doubled.
    import json

    doc = json.loads((root / newest).read_text(encoding="utf-8"))
    expected = Decimal(0)
    for row in doc["forms"].get("funds", []):
        key = next(k for k in row if "amount" in k or "金额" in k)
        row[key] = "2万" if key == "金额（万元）" else "20000"
        expected += Decimal(20000)
    target = root / prefecture / period / ("zz_corrected_" + name)
    target.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    later = AS_OF.replace(day=25)
    os.utime(target, (later.timestamp() - 3600,) * 2)
    monkeypatch.setenv("HALFSKY_PERSON_HMAC_KEY", loaded["env"]["HALFSKY_PERSON_HMAC_KEY"])
    ingest_all(dsn, root, loaded["base"] / "quarantine", as_of=later)
    pipeline.build_marts(later, dsn=dsn)
    after = dict(((r[0], r[1]), r[2]) for r in _rows(dsn, "select distinct prefecture_code, period, submission_id from marts.fct_fund_flows"))
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {(prefecture, period)}
    (total,), = _rows(dsn, "select sum(amount_yuan) from marts.fct_fund_flows where prefecture_code = %s and period = %s", prefecture, period)
    assert total == expected


def test_marts_build_fails_clearly_without_the_person_key(loaded, monkeypatch):
    from halfsky.orchestration import pipeline
    from halfsky.config.settings import MissingSetting

    monkeypatch.delenv("HALFSKY_PERSON_HMAC_KEY", raising=False)
    with pytest.raises(MissingSetting, match="HALFSKY_PERSON_HMAC_KEY"):
        pipeline.build_marts(AS_OF, dsn=loaded["dsn"])



def test_every_mart_and_column_carries_its_description_in_chinese_and_english(loaded):
    """persist_docs: psql's \\d+ and a BI tool's schema view show what each relation and column means."""
    with psycopg.connect(loaded["dsn"]) as conn:
        rows = conn.execute(
            """select c.relname, a.attname, col_description(c.oid, a.attnum)
               from pg_class c join pg_namespace n on n.oid = c.relnamespace
               join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
               where n.nspname = 'marts' and c.relkind in ('r', 'p', 'v')
               union all
               select c.relname, null, obj_description(c.oid, 'pg_class')
               from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = 'marts' and c.relkind in ('r', 'p', 'v')""").fetchall()
    assert len({r[0] for r in rows}) >= 20, "every mart is there"
    missing = [(rel, col) for rel, col, text in rows
               if not text or not re.search(r"[\u4e00-\u9fff]", text) or not re.search(r"[A-Za-z]{3}", text)]
    assert missing == [], f"relations or columns without a Chinese and English comment: {missing[:10]}"


def test_every_region_has_an_english_name_beside_its_chinese_one(loaded):
    with psycopg.connect(loaded["dsn"]) as conn:
        unnamed = conn.execute("select count(*) from marts.dim_region where name_en is null or name_en !~ '^[A-Z]'").fetchone()[0]
        ili = conn.execute("select name_en, province_name_en from marts.dim_region where region_code = '654000'").fetchone()
        county = conn.execute("select prefecture_name_en, reporting_unit_name_en from marts.dim_region "
                              "where region_code = '654002'").fetchone()  # 伊宁市, a county-level city of Ili
        views = conn.execute("select count(*), count(region_name_en) from marts.rpt_coverage where region_name_zh is not null").fetchone()
        grid = conn.execute("select count(*), count(prefecture_name_en) from marts.rpt_reporting_completeness").fetchone()
    assert unnamed == 0
    assert ili == ("Yili Hasake Autonomous Prefecture", "Xinjiang Weiwu'er Autonomous Region")
    assert county == ("Yili Hasake Autonomous Prefecture", "Yili Hasake Autonomous Prefecture")
    assert views[0] > 0 and views[0] == views[1], "a view that shows a Chinese place name shows its English one beside it"
    assert grid[0] > 0 and grid[0] == grid[1], "the completeness grid names every unit in English too"


def test_facts_declare_their_foreign_keys_so_a_bi_tool_sees_the_star(loaded):
    """Every key the marts' YAML declares is in the catalogue after a real build (NOT VALID: the relationships
    tests check the rows), pointing at its dimension's primary key. Facts partitioned by period get theirs
    from PostgreSQL 18 on (older servers cannot add a NOT VALID key to a partitioned table)."""
    import yaml

    partitioned = _partitioned_models()
    with psycopg.connect(loaded["dsn"]) as conn:
        keys_on_partitioned = int(conn.execute("select current_setting('server_version_num')").fetchone()[0]) >= 180000

    declared = set()
    for path in (REPO_ROOT / "dbt_project" / "models" / "marts").glob("*.yml"):
        for model in yaml.safe_load(path.read_text(encoding="utf-8")).get("models", []):
            for column in model.get("columns", []):
                for c in column.get("constraints", []):
                    if c["type"] == "foreign_key":
                        declared.add((model["name"], column["name"], c["to"].split("'")[1], tuple(c["to_columns"])))
    with psycopg.connect(loaded["dsn"]) as conn:
        found = {(r[0], r[1], r[2], tuple(r[3])) for r in conn.execute(
            """select c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, array_agg(fa.attname)
               from pg_constraint c
               join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
               join pg_attribute fa on fa.attrelid = c.confrelid and fa.attnum = any(c.confkey)
               where c.contype = 'f' and c.connamespace = 'marts'::regnamespace
               group by 1, 2, 3""")}
        primary = {r[0] for r in conn.execute(
            "select conrelid::regclass::text from pg_constraint where contype = 'p' and connamespace = 'marts'::regnamespace")}
    assert len(declared) >= 20
    assert found == {(f"marts.{m}", col, f"marts.{dim}", to) for m, col, dim, to in declared
                     if keys_on_partitioned or m not in partitioned}
    assert {dim for _, _, dim, _ in found} <= primary, "each key points at a dimension's primary key"


def test_monthly_trend_is_per_reporting_unit_and_adds_up_to_the_facts(loaded):
    with psycopg.connect(loaded["dsn"]) as conn:
        trend = dict(((u, p), (r, s)) for u, p, r, s in conn.execute(
            "select prefecture_code, period, sum(raised_yuan), sum(spent_yuan) from marts.rpt_monthly_trend group by 1, 2"))
        facts = dict(((u, p), (r or 0, s or 0)) for u, p, r, s in conn.execute(
            """select prefecture_code, period, sum(amount_yuan) filter (where is_raised),
                      sum(amount_yuan) filter (where is_spent)
               from marts.fct_fund_flows group by 1, 2"""))
        unnamed = conn.execute("select count(*) from marts.rpt_monthly_trend "
                               "where prefecture_name_zh is null or prefecture_name_en is null").fetchone()[0]
    assert len({u for u, _ in trend}) == 6
    assert {k: v for k, v in trend.items() if k in facts} == facts
    assert unnamed == 0


def _partitioned_models() -> set[str]:
    return {path.stem for path in (REPO_ROOT / "dbt_project" / "models" / "marts").glob("fct_*.sql")
            if "partition_by_period=" in path.read_text(encoding="utf-8")}


def test_big_facts_are_partitioned_by_period_out_of_analysts_sight(loaded):
    """fct_benefits, fct_fund_flows and fct_program_activity: one partition per month they hold, in
    marts_partitions (which the analyst role cannot open), nothing in the default partition; raw likewise."""
    partitioned = _partitioned_models()
    assert {"fct_benefits", "fct_fund_flows", "fct_program_activity"} <= partitioned
    with psycopg.connect(loaded["dsn"]) as conn:
        for table, schema in [*((f"marts.{m}", "marts_partitions") for m in sorted(partitioned)),
                              *((f"raw.{f}", "raw") for f in ("activity", "funds", "beneficiaries", "targets"))]:
            assert conn.execute("select relkind from pg_class where oid = %s::regclass", (table,)).fetchone()[0] == "p", table
            parts = dict(conn.execute(
                """select pg_get_expr(c.relpartbound, c.oid), n.nspname || '.' || c.relname
                   from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_namespace n on n.oid = c.relnamespace
                   where i.inhparent = %s::regclass""", (table,)).fetchall())
            assert {name.split(".")[0] for name in parts.values()} == {schema}, table
            assert conn.execute(f"select count(*) from only {parts.pop('DEFAULT')}").fetchone()[0] == 0, table
            periods = {p for (p,) in conn.execute(f"select distinct period from {table}")}
            assert periods and len(parts) == len(periods), (table, sorted(parts), sorted(periods))
            for bound, partition in parts.items():
                held = {p for (p,) in conn.execute(f"select distinct period from {partition}")}
                assert len(held) == 1 and f"FROM ('{held.pop()}')" in bound, (partition, bound)
    with psycopg.connect(loaded["dsn"]) as conn:
        conn.execute("set role halfsky_analyst")
        assert conn.execute("select count(*) from marts.fct_benefits").fetchone()[0] > 0
        assert not conn.execute("select has_schema_privilege('marts_partitions', 'usage')").fetchone()[0]


def test_a_model_that_fails_in_the_build_is_a_red_box_of_its_own_and_only_what_needs_it_waits(loaded):
    """Last in this module: it runs build_marts once more, with raw.targets out of dbt's sight. The one dbt build
    fails on stg_raw__targets; that model's box is red (its retry runs the model alone and fails again), the fact
    built from it is upstream_failed, every model and test that does not need it is green, and the marts asset
    is not published. Cosmos leaves a task group's boxes beside its build; here they follow it
    (halfsky.orchestration.dbt_task_group.producer_first), and this is what shows that they still run after a
    failed one."""
    from ingest_helpers import short_retries

    # Only the build and the boxes asserted on run; the other boxes (a minute of `dags test`) are marked
    # successful unrun, which for the boxes between them is what they would have read from the build.
    watched = ("dbt_producer_watcher", "stg_raw__targets_run", "fct_targets.run", "fct_fund_flows.run",
               "fct_fund_flows.test", "dim_beneficiary.run", "assert_fund_flows_reconcile_to_raw_test")
    unwatched = r"dbt\.(?!(?:%s)$).*" % "|".join(re.escape(box) for box in watched)
    short_retries(Path(loaded["env"]["AIRFLOW_HOME"]))  # the red box's retry after a second, not two minutes
    with psycopg.connect(loaded["dsn"], autocommit=True) as conn:
        conn.execute("alter table raw.targets rename to targets_out_of_sight")
    try:
        run = subprocess.run([AIRFLOW, "dags", "test", "build_marts", LOGICAL_DATE, "--mark-success-pattern",
                              unwatched], env=loaded["env"], capture_output=True, text=True)
    finally:
        with psycopg.connect(loaded["dsn"], autocommit=True) as conn:
            conn.execute("alter table raw.targets_out_of_sight rename to targets")
    log = run.stdout + run.stderr
    assert run.returncode == 1, log[-3000:]
    states = {task_id: state for task_id, _, state, _ in _task_instances(loaded, "build_marts")}
    assert set(re.findall(r"\[DAG TEST\] starting task_id=dbt\.(\S+) ", log)) == set(watched) - {"fct_targets.run"}
    assert states["check_person_key"] == "success"
    assert states["dbt.dbt_producer_watcher"] == "failed"
    assert states["dbt.stg_raw__targets_run"] == "failed"
    retried = log[log.rindex("[DAG TEST] starting task_id=dbt.stg_raw__targets_run "):]  # its last try
    assert 'relation "raw.targets" does not exist' in retried[:retried.index("[DAG TEST] end task")], retried[:3000]
    assert states["dbt.fct_targets.run"] == "upstream_failed"
    assert {states[t] for t in ("dbt.fct_fund_flows.run", "dbt.fct_fund_flows.test", "dbt.dim_beneficiary.run",
                                "dbt.assert_fund_flows_reconcile_to_raw_test")} == {"success"}
    assert states["summarize_marts"] == "upstream_failed"

    # Under the scheduler the boxes start in the triggerer (halfsky.orchestration.dbt_box_trigger): its trigger,
    # run here on this build's results, ends a green node's box there, and sends a red one, or any retry or
    # cleared box, back to a worker, where Cosmos fails it (as above) or runs its node alone. (Cosmos counts a
    # test of several models under each of them, so fct_fund_flows' tests read "fail" here, for
    # assert_no_id_numbers_in_mart_text, which reads fct_targets too; their retry on a worker runs them alone,
    # green, as asserted above.)
    events = _box_trigger_events(loaded, latest_run_id(loaded["airflow_db"], "build_marts"), [
        ("model.halfsky.stg_raw__targets", False, 1), ("model.halfsky.fct_fund_flows", False, 1),
        ("model.halfsky.fct_benefits", True, 1), ("model.halfsky.fct_fund_flows", True, 1),
        ("model.halfsky.fct_fund_flows", False, 2)])
    assert [(kind, payload if kind != "TriggerEvent" else (payload["status"], payload["reason"]))
            for kind, payload in events] == [
        ("TriggerEvent", ("failed", "node_failed")), ("TaskSuccessEvent", "success"),
        ("TaskSuccessEvent", "success"), ("TriggerEvent", ("failed", "node_failed")),
        ("TriggerEvent", ("failed", "producer_skipped"))], events


BOX_TRIGGER_CHILD = """
import json, sys, uuid
from airflow.sdk.api.datamodels._generated import TaskInstance
from airflow.sdk.execution_time.supervisor import InProcessTestSupervisor
from halfsky.orchestration.dbt_box_trigger import BoxResultTrigger

run_id, boxes = sys.argv[1], json.loads(sys.argv[2])
if boxes == "every box":  # each watcher box of build_marts, as the DAG file renders them
    import os
    from airflow.dag_processing.dagbag import DagBag
    from cosmos.operators.watcher import DbtConsumerWatcherSensor
    dag = DagBag(dag_folder=os.path.join(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], "build_marts.py")).get_dag("build_marts")
    boxes = [(t.model_unique_id, t.is_test_sensor, 1) for t in dag.tasks if isinstance(t, DbtConsumerWatcherSensor)]
out = []
for model, is_test, try_number in boxes:
    trigger = BoxResultTrigger(model_unique_id=model, producer_task_id="dbt.dbt_producer_watcher",
                               dag_id="build_marts", run_id="", map_index=-1, poke_interval=0.1,
                               is_test_sensor=is_test)
    # the box's task instance, as the triggerer hands it to a trigger it starts
    trigger.task_instance = TaskInstance(id=uuid.uuid4(), task_id="dbt.box", dag_id="build_marts", run_id=run_id,
                                         try_number=try_number, map_index=-1, dag_version_id=uuid.uuid4())
    event = InProcessTestSupervisor.run_trigger_in_process(trigger=trigger, ti=trigger.task_instance)
    out.append([type(event).__name__, json.loads(json.dumps(event.payload, default=str))])
print("EVENTS " + json.dumps(out))
"""


def _box_trigger_events(loaded, run_id: str, boxes: list[tuple[str, bool, int]] | str) -> list[tuple]:
    done = run_child(loaded["env"], BOX_TRIGGER_CHILD, run_id, json.dumps(boxes))
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("EVENTS ")]
    return [tuple(event) for event in json.loads(line.removeprefix("EVENTS "))]
