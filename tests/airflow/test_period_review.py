"""The province's review as users meet it: a real `airflow dags test review_periods` whose review task waits
for input, answered through Airflow's own HITL REST API (the endpoint the Required Actions page calls), then
a changed drop for the approved period, and a reopening through reopen_period's trigger form.

The API runs in a child process against the same SQLite metadata database as the `dags test` run, signed in
as a reviewer with a JWT from the simple auth manager, as the UI's session is.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

import hostile_drops as hd
from ingest_helpers import AIRFLOW, AS_OF, airflow_home, asset_event_extras, ingest_all, verdicts_by_path

UNIT, COUNTY, PERIOD = "152900", "152921", "2026-08"
REVIEWER = "reviewer1"

# One API process for the module's answers (starting Airflow's app is seconds): a request per line on stdin,
# {"path", "user", "body"}, its answer on a line of stdout that starts with ANSWER.
RESPONDER = """
import json, sys
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import create_app, get_auth_manager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

with TestClient(create_app("core")) as client:
    for line in sys.stdin:
        ask = json.loads(line)
        token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=ask["user"], role="admin"))
        response = client.patch(ask["path"], json=ask["body"], headers={"Authorization": f"Bearer {token}"})
        print("ANSWER " + json.dumps({"status": response.status_code, "body": response.json()}), flush=True)
"""


def _drop(root: Path, name: str, amount: str, minute: int) -> str:
    return hd.income_drop(root, UNIT, COUNTY, PERIOD, name, amount,
                          datetime.fromisoformat(f"2026-09-01T10:{minute:02d}:00+08:00"))


@pytest.fixture(scope="module")
def site(fresh_database, dimensions_template, tmp_path_factory):
    base = tmp_path_factory.mktemp("period_review")
    with fresh_database("review", template=dimensions_template) as dsn:
        root, quarantine = base / "landing", base / "quarantine"
        first = _drop(root, "first", "1000", 1)
        ingest_all(dsn, root, quarantine, as_of=AS_OF)
        env = airflow_home(base / "airflow", dsn, root, quarantine, "test-key-" + "r" * 32)
        env["HALFSKY_REVIEWERS"] = f"{REVIEWER}:省妇联审核员"
        api = subprocess.Popen([sys.executable, "-c", RESPONDER], env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            yield {"dsn": dsn, "root": root, "quarantine": quarantine, "env": env, "first": first, "api": api,
                   "airflow_db": base / "airflow" / "airflow.db", "base": base}
        finally:
            api.stdin.close()
            api.wait(timeout=60)


def _waiting_reviews(airflow_db: Path) -> list[tuple]:
    try:
        with sqlite3.connect(airflow_db) as db:
            return db.execute("""select ti.dag_id, ti.run_id, ti.task_id, ti.map_index, h.subject, h.body
                                 from task_instance ti join hitl_detail h on h.ti_id = ti.id
                                 where ti.state = 'awaiting_input'""").fetchall()
    except sqlite3.OperationalError:  # the run has not made its tables' rows yet, or holds the write lock
        return []


def _respond(site: dict, review: tuple, user: str, chosen: str, comment: str = "") -> dict:
    """Answer a review through PATCH .../taskInstances/{task_id}/{map_index}/hitlDetails, as ``user``."""
    dag_id, run_id, task_id, map_index = review[:4]
    api = site["api"]
    api.stdin.write(json.dumps({
        "path": f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/hitlDetails",
        "user": user, "body": {"chosen_options": [chosen], "params_input": {"comment": comment}}}) + "\n")
    api.stdin.flush()
    while True:  # Airflow's own log lines may come first
        line = api.stdout.readline()
        assert line, f"the API process ended: {api.stderr.read()[-3000:]}"
        if line.startswith("ANSWER "):
            return json.loads(line.removeprefix("ANSWER "))


def _review_run(site: dict, logical_date: str, answer) -> tuple[subprocess.CompletedProcess, list]:
    """`airflow dags test review_periods`, answering each review task it waits on with ``answer(review)``."""
    log = (site["base"] / f"review_{logical_date}.log").open("w")
    run = subprocess.Popen([AIRFLOW, "dags", "test", "review_periods", logical_date], env=site["env"],
                           stdout=log, stderr=subprocess.STDOUT, text=True)
    answered, deadline = [], time.monotonic() + 300
    while run.poll() is None and time.monotonic() < deadline:
        for review in _waiting_reviews(site["airflow_db"]):
            if review[:4] not in [a[0][:4] for a in answered]:
                answered.append((review, answer(review)))
        time.sleep(1)
    if run.poll() is None:
        run.kill()
    run.wait()
    log.close()
    output = (site["base"] / f"review_{logical_date}.log").read_text()
    return subprocess.CompletedProcess(run.args, run.returncode, output, ""), answered


def test_approve_through_the_hitl_api_then_a_changed_drop_is_rejected_and_a_reopening_lets_it_in(site):
    from halfsky.warehouse.period_reviews import history, standing

    def approve(review):
        outsider = _respond(site, review, "someone_else", "批准 Approve")
        assert outsider["status"] == 403, outsider  # only HALFSKY_REVIEWERS may answer
        return _respond(site, review, REVIEWER, "批准 Approve")

    done, answered = _review_run(site, "2026-09-21", approve)
    assert done.returncode == 0, done.stdout[-4000:]
    [(review, response)] = answered
    assert response["status"] == 200, response
    subject, body = review[4], review[5]
    assert UNIT in subject and PERIOD in subject and "阿拉善盟" in subject
    assert "到位资金(元) money in (yuan) | 1,000.00 | 未报送 not sent" in body, body
    with psycopg.connect(site["dsn"]) as conn:
        now = standing(conn, UNIT, PERIOD)
        assert now.approval_status == "approved" and now.last_actor == REVIEWER
        raw_before = conn.execute("select submission_id, amount_yuan from raw.funds order by 1").fetchall()
    # The answer updated the reviews asset, so build_marts shows it the same day; no night has published raw
    # in this site, so the as-of is the review run's own (the night that asked).
    assert asset_event_extras(site["airflow_db"], "halfsky_reviews") == [
        {"as_of": "2026-09-21T00:00:00+00:00", "prefecture_code": UNIT, "period": PERIOD, "action": "approve"}]

    changed = _drop(site["root"], "resent", "5000", 2)  # named after "first": the newer by name
    ingest_all(site["dsn"], site["root"], site["quarantine"], as_of=AS_OF)
    assert verdicts_by_path(site["dsn"], [changed])[changed] == ("rejected", ["period_closed:"])
    with psycopg.connect(site["dsn"]) as conn:
        assert conn.execute("select submission_id, amount_yuan from raw.funds order by 1").fetchall() == raw_before
        (changed_id,) = conn.execute("select submission_id from ingest.submissions where drop_path = %s",
                                     (changed,)).fetchone()

    conf = json.dumps({"prefecture": UNIT, "period": PERIOD, "reason": "县里补报了一笔收入 a late income"})
    reopened = subprocess.run([AIRFLOW, "dags", "test", "reopen_period", "2026-09-22", "-c", conf],
                              env=site["env"], capture_output=True, text=True)
    assert reopened.returncode == 0, (reopened.stdout + reopened.stderr)[-4000:]
    assert [e["action"] for e in asset_event_extras(site["airflow_db"], "halfsky_reviews")] == ["approve", "reopen"]
    from halfsky.ingest.replay import replay
    assert replay(site["dsn"], changed_id, as_of=AS_OF, actor="test") == "accepted"

    # The next night's review asks about the new drop; this time it is returned, with a comment.
    def give_back(review):
        without = _respond(site, review, REVIEWER, "退回 Return")
        assert without["status"] == 200  # Airflow takes the answer; halfsky refuses to record it (a red box)
        return without

    done, answered = _review_run(site, "2026-09-23", give_back)
    assert done.returncode != 0, "a return without a comment is a failed task, recorded nowhere"
    assert "a return needs a comment" in done.stdout
    with psycopg.connect(site["dsn"]) as conn:
        assert standing(conn, UNIT, PERIOD).approval_status == "awaiting_approval"
        events = history(conn, UNIT, PERIOD)
    assert [e[0] for e in events] == ["approve", "reopen"] and events[0][2] == REVIEWER, events
    assert events[1][3] == "县里补报了一笔收入 a late income"
    assert events[1][2] == "dag_test", "the reopening is the triggering user's (dags test names itself so)"
