"""Alerts against real servers: an SMTP server (aiosmtpd) and an HTTP receiver on loopback, a real warehouse
loaded by the pipeline's own ingest, and for the task callbacks a real Airflow run."""

from __future__ import annotations

import email
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from datetime import datetime
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from aiosmtpd.controller import Controller

from ingest_helpers import make_tree
from halfsky.orchestration.task_alerts import AlertNotSent, send_night_digest, task_failure_alert, task_retry_alert
from halfsky.ingest.runner import pending_work, process_prefecture
from halfsky.orchestration.night_digest_queries import MONTHLY, night_digest
from halfsky.orchestration.night_digest_text import format_digest

NIGHT_1 = datetime.fromisoformat("2026-10-21T00:00:00+08:00")
NIGHT_2 = datetime.fromisoformat("2026-10-22T00:00:00+08:00")
RUN_1 = "scheduled__2026-10-20T16:00:00+00:00"
RUN_2 = "scheduled__2026-10-21T16:00:00+00:00"
# A drop name is whatever a prefecture's staff typed: markup, and Jinja that must never be rendered.
HOSTILE_NAME = "<img src=x onerror=alert(1)>{{ 7*7 }}.json"
LATE_BAD_NAME = "150100_2026-09_second_try.json"
RECIPIENTS = ("stats@example.org", "admin@example.org")
WEBHOOK_TOKEN = "s3cret-webhook-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _arrived(path: Path, when: str) -> None:
    ts = datetime.fromisoformat(when).timestamp()
    os.utime(path, (ts, ts))


def _run_night(dsn: str, root: Path, quarantine: Path, as_of: datetime, run_id: str) -> None:
    """The nightly ingest as the DAG runs it: due drops in batches by reporting unit, under the run's id."""
    work, _ = pending_work(dsn, str(root), as_of)
    for batch in work:
        process_prefecture(dsn, str(root), str(quarantine), batch["paths"], as_of=as_of, run_id=run_id)


@pytest.fixture(scope="module")
def night(fresh_database, tmp_path_factory):
    """A warehouse of its own (so "missing" is exactly known): two reporting units' September drops, three
    bad ones and a hostile name on night 1, one more bad drop on night 2."""
    base = tmp_path_factory.mktemp("alerts")
    root, truth = make_tree(base, "--prefectures", "2", "--months", "1", "--first-period", "2026-09", "--rows", "6",
                            "--no-annual", "--invalid", "required,code_list,unknown_prefecture", "--seed", "5")
    hostile = root / "150200" / "2026-09" / HOSTILE_NAME
    hostile.parent.mkdir(parents=True)
    hostile.write_text("{not json", encoding="utf-8")
    _arrived(hostile, "2026-10-08T09:00:00+08:00")
    with fresh_database("alerts", schema=True) as dsn:
        yield from _nights(dsn, root, truth)


def _nights(dsn, root, truth):
    from halfsky.warehouse.dbt_runner import run_dbt

    base = root.parent
    quarantine = base / "quarantine"
    _run_night(dsn, root, quarantine, NIGHT_1, RUN_1)
    late = root / "150100" / "2026-09" / LATE_BAD_NAME
    late.write_text('{"prefecture_code": "150100"}', encoding="utf-8")
    _arrived(late, "2026-10-21T12:00:00+08:00")
    _run_night(dsn, root, quarantine, NIGHT_2, RUN_2)
    before_seed = night_digest(dsn, RUN_1, NIGHT_1)  # no reference.reporting_units yet: read from the seed file
    run_dbt(["seed", "--select", "reporting_units"], dsn=dsn)
    with psycopg.connect(dsn) as conn:
        units = {r[0]: r[1] for r in conn.execute("select prefecture_code, name_zh from reference.reporting_units")}
    bad = [d for d in truth["drops"] if d["expected_status"] == "rejected"]
    yield SimpleNamespace(dsn=dsn, root=root, truth=truth, bad=bad, units=units, before_seed=before_seed,
                          loaded={d["prefecture_code"] for d in truth["drops"] if d["expected_status"] == "accepted"})


class _Inbox:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self):
        return [email.message_from_bytes(e.content, policy=email_policy) for e in self.envelopes]


@pytest.fixture(scope="module")
def smtp_server():
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield SimpleNamespace(inbox=inbox, port=controller.port)
    controller.stop()


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
        self.send_response(self.server.status)
        self.end_headers()

    def log_message(self, *args):  # quiet test output
        pass


@pytest.fixture(scope="module")
def webhook_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received, server.status = [], 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _smtp_uri(port: int) -> str:
    # The URI form, as an admin may export it; no TLS on loopback.
    return f"smtp://127.0.0.1:{port}?disable_ssl=true&disable_tls=true&from_email=halfsky%40example.org&timeout=5"


def _webhook_json(port: int) -> str:
    return json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http",
                       "extra": {"endpoint": "/hooks/halfsky", "headers": {"X-Halfsky-Token": WEBHOOK_TOKEN}}})


@pytest.fixture
def channels(monkeypatch, smtp_server, webhook_server):
    smtp_server.inbox.envelopes.clear()
    webhook_server.received.clear()
    webhook_server.status = 200
    monkeypatch.setenv("AIRFLOW_CONN_HALFSKY_SMTP", _smtp_uri(smtp_server.port))
    monkeypatch.setenv("AIRFLOW_CONN_HALFSKY_WEBHOOK", _webhook_json(webhook_server.server_address[1]))
    monkeypatch.setenv("AIRFLOW_VAR_ALERT_EMAILS", ", ".join(RECIPIENTS))
    return SimpleNamespace(inbox=smtp_server.inbox, webhook=webhook_server)


@pytest.fixture
def no_channels(monkeypatch):
    for name in ("AIRFLOW_CONN_HALFSKY_SMTP", "AIRFLOW_CONN_HALFSKY_WEBHOOK", "AIRFLOW_VAR_ALERT_EMAILS"):
        monkeypatch.delenv(name, raising=False)


def _html_part(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


# -- the digest, from the warehouse --

def test_the_digest_lists_the_runs_rejected_drops_with_their_rules_and_reports(night):
    digest = night_digest(night.dsn, RUN_1, NIGHT_1)
    expected = {(d["prefecture_code"], d["period"], Path(d["path"]).name): d["expected_rule"] for d in night.bad}
    expected[("150200", "2026-09", HOSTILE_NAME)] = "unreadable"
    assert {(d.unit_code, d.period, d.drop_name): tuple(r.rule for r in d.rules) for d in digest.rejected} == \
        {key: (rule,) for key, rule in expected.items()}
    for drop in digest.rejected:
        assert Path(drop.report).is_file() and drop.report.endswith("report.html")
        assert drop.unit_name_zh == night.units.get(drop.unit_code)  # the unknown folder 159900 has no name
    # Night 2 rejected one drop; night 1's are not repeated.
    assert [d.drop_name for d in night_digest(night.dsn, RUN_2, NIGHT_2).rejected] == [LATE_BAD_NAME]


def test_missing_reports_are_those_past_their_deadline_with_no_accepted_drop(night):
    digest = night_digest(night.dsn, RUN_1, NIGHT_1)
    missing = {(m.unit_code, m.period, m.report): m for m in digest.missing}
    assert digest.missing_units == sorted(night.units)  # every unit owes something since 2022/2023
    for unit in night.loaded:
        assert (unit, "2026-09", MONTHLY) not in missing
        assert (unit, "2026-08", MONTHLY) in missing
    assert missing[("150300", "2026-09", MONTHLY)].drops_rejected == 0
    assert missing[("150200", "2026-09", MONTHLY)].drops_rejected == 1  # only the hostile drop came
    assert all(m.deadline < NIGHT_1 for m in digest.missing)
    assert not any(m.period in ("2026-10", "2026") and m.report != "annual_plan" for m in digest.missing)
    assert ("150100", "2026", "annual_plan") in missing  # due 31 January, never sent (--no-annual)
    # Before dbt had seeded reference.reporting_units, the same seed file gave the same answer.
    assert night.before_seed.missing == digest.missing


def test_the_digest_is_bilingual_with_counts_in_the_subject_and_escapes_drop_names(night):
    digest = night_digest(night.dsn, RUN_1, NIGHT_1)
    subject, text, html = format_digest(digest, "http://airflow.example/dags/nightly_load/runs/x")
    n = len(digest.rejected)
    assert subject == f"半边天 2026-10-21: {n} 份被退回 / {n} rejected, 19 个单位逾期未报 / 19 missing"
    assert HOSTILE_NAME in text and "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    # Missing reports in three parts, so this month's reminders are not buried under years of gaps.
    never = sorted(set(night.units) - night.loaded)  # sent nothing accepted, ever: named once, on one line
    assert list(digest.never_reported) == never and "150300" in never
    latest, rest = text.split("最近一期未报（月报 2026-09、年度计划 2026、年末统计 2025）/ Missing the latest period due "
                              "(monthly 2026-09, annual plan 2026, year-end count 2025): ")[1].split("更早的缺报 / Earlier gaps: ")
    earlier, silent = rest.split("从未报送（应报以来无一份被接收）/ Never sent an accepted report since expected: ")
    assert silent.startswith(f"{len(never)}（") and "150300 乌海市" in silent and "150300" not in latest + earlier
    unit = sorted(night.loaded)[0]  # September accepted; no annual plan sent (--no-annual)
    assert (f"- {unit} {night.units[unit]}：年度计划（任务、人口基数） 2026；年末阵地组织数、基层组织覆盖 2025 / "
            "annual plan (targets, population) 2026; year-end count of sites and grassroots coverage 2025") in latest
    assert "2026-09" not in latest.split(f"- {unit} ")[1].splitlines()[0]
    assert f"- {unit} {night.units[unit]}：月报 2022-01–2026-08（共 56 个月）；" in earlier
    assert "monthly report 2022-01–2026-08 (56 months); " in earlier
    assert "必填项为空 / A required value is empty" in text


# -- sending the digest --

def test_the_night_digest_goes_out_by_mail_and_webhook_once(night, channels, caplog):
    caplog.set_level("INFO")
    run_url = "http://airflow.example/dags/nightly_load/runs/" + RUN_1
    result = send_night_digest(night.dsn, RUN_1, NIGHT_1, run_url)
    n = len(night.bad) + 1
    missing = result.pop("missing")
    assert result == {"run_id": RUN_1, "rejected": n, "missing_units": 19, "missing_reports": len(missing),
                      "sent": ["email", "webhook"], "already_sent": []}
    assert {"unit": "150200", "period": "2026-09", "report": "monthly"} in missing
    assert {"unit": "150100", "period": "2026-09", "report": "monthly"} not in missing

    [envelope] = channels.inbox.envelopes
    assert envelope.mail_from == "halfsky@example.org" and sorted(envelope.rcpt_tos) == sorted(RECIPIENTS)
    [message] = channels.inbox.messages()
    assert message["Subject"] == f"半边天 2026-10-21: {n} 份被退回 / {n} rejected, 19 个单位逾期未报 / 19 missing"
    body = _html_part(message)
    for drop in night.bad:
        assert Path(drop["path"]).name in body and drop["expected_rule"] in body
    assert "&lt;img src=x onerror=alert(1)&gt;{{ 7*7 }}.json" in body and "<img" not in body  # escaped, not rendered
    assert "150300 乌海市" in body and "159900" in body and "unreadable" in body
    assert "本次运行退回的报送 / Drops rejected by this run" in body
    assert "截止日已过仍未报送的单位 / Reporting units missing after the deadline" in body
    assert f'href="{run_url}"' in body

    [post] = channels.webhook.received
    assert post["path"] == "/hooks/halfsky" and post["headers"]["X-Halfsky-Token"] == WEBHOOK_TOKEN
    payload = post["json"]
    assert payload["subject"] == message["Subject"] and payload["run_id"] == RUN_1 and payload["kind"] == "night_digest"
    assert HOSTILE_NAME in payload["text"] and "乌海市" in payload["text"]
    assert {d["drop_name"]: d["rules"] for d in payload["rejected"]}[HOSTILE_NAME] == ["unreadable"]
    assert {m["unit_code"] for m in payload["missing"]} == set(night.units)
    assert payload["never_reported"] == sorted(set(night.units) - night.loaded)
    assert payload["latest_due"] == {"monthly": "2026-09", "annual_plan": "2026", "annual_year_end": "2025"}
    assert WEBHOOK_TOKEN not in caplog.text and "/hooks/halfsky" not in caplog.text

    # A retried or cleared task: nothing goes out a second time for the run.
    again = send_night_digest(night.dsn, RUN_1, NIGHT_1, run_url)
    assert again["sent"] == [] and again["already_sent"] == ["email", "webhook"]
    assert len(channels.inbox.envelopes) == 1 and len(channels.webhook.received) == 1
    with psycopg.connect(night.dsn) as conn:
        row = conn.execute("select channels, rejected, missing, as_of from ingest.night_alerts where run_id = %s",
                           (RUN_1,)).fetchone()
    assert row == (["email", "webhook"], n, 19, NIGHT_1)


def test_a_channel_that_fails_is_retried_alone(night, channels):
    channels.webhook.status = 503
    with pytest.raises(AlertNotSent, match="webhook"):
        send_night_digest(night.dsn, RUN_2, NIGHT_2)
    assert len(channels.inbox.envelopes) == 1  # the mail went out and is recorded
    channels.webhook.status = 200
    retry = send_night_digest(night.dsn, RUN_2, NIGHT_2)
    assert retry["sent"] == ["webhook"] and retry["already_sent"] == ["email"]
    assert len(channels.inbox.envelopes) == 1 and len(channels.webhook.received) == 2
    assert "1 份被退回 / 1 rejected" in channels.webhook.received[-1]["json"]["subject"]


def test_with_no_channel_the_digest_is_only_logged(night, no_channels, caplog):
    caplog.set_level("INFO", logger="halfsky.orchestration.task_alerts")
    result = send_night_digest(night.dsn, "manual__no_channel", NIGHT_2)
    assert result["sent"] == [] and result["missing_units"] == 19
    assert "no alert channel configured" in caplog.text and "19 个单位逾期未报 / 19 missing" in caplog.text
    with psycopg.connect(night.dsn) as conn:
        assert conn.execute("select count(*) from ingest.night_alerts where run_id = 'manual__no_channel'").fetchone()[0] == 0


# -- task callbacks --

def _context(exception: BaseException) -> dict:
    """What Airflow hands a task callback, as far as the alert reads it."""
    ti = SimpleNamespace(dag_id="nightly_load", task_id="ingest_prefecture", run_id=RUN_1, map_index=3,
                         rendered_map_index="150200", try_number=2, max_tries=2,
                         log_url="http://airflow.example/dags/nightly_load/runs/x/tasks/ingest_prefecture/mapped/3")
    return {"ti": ti, "run_id": RUN_1, "exception": exception}


def test_failure_and_retry_callbacks_send_a_short_bilingual_message(channels):
    task_retry_alert(_context(RuntimeError("drop <b>x</b> could not be stored\nTraceback line two")))
    task_failure_alert(_context(RuntimeError("drop <b>x</b> could not be stored\nTraceback line two")))
    retry, failure = channels.inbox.messages()
    assert retry["Subject"] == "半边天 任务出错，将重试 / task failed, will be retried: nightly_load.ingest_prefecture [150200]"
    assert failure["Subject"] == "半边天 任务失败 / task failed: nightly_load.ingest_prefecture [150200]"
    body = _html_part(failure)
    assert "第 2 次尝试（最多 3 次）" in body and "try 2 of 3" in body
    assert "RuntimeError: drop &lt;b&gt;x&lt;/b&gt; could not be stored" in body and "line two" not in body
    assert 'href="http://airflow.example/dags/nightly_load/runs/x/tasks/ingest_prefecture/mapped/3"' in body
    payload = channels.webhook.received[-1]["json"]
    assert payload["kind"] == "task_failure" and payload["dag_id"] == "nightly_load"
    assert payload["task_id"] == "ingest_prefecture" and payload["map_index_label"] == "150200"
    assert payload["try_number"] == 2 and payload["error"] == "RuntimeError: drop <b>x</b> could not be stored"


def test_a_broken_channel_never_raises_from_a_callback(channels, monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW_CONN_HALFSKY_SMTP", _smtp_uri(_free_port()))  # nothing listens there
    monkeypatch.setenv("AIRFLOW_CONN_HALFSKY_WEBHOOK", json.dumps({"conn_type": "http", "host": "127.0.0.1",
                                                                   "port": _free_port(), "schema": "http"}))
    task_failure_alert(_context(ValueError("boom")))
    task_failure_alert({})  # even a context with nothing in it
    assert "alert not sent by email" in caplog.text and "alert not sent by webhook" in caplog.text


def test_with_no_channel_a_callback_logs_one_info_line(no_channels, caplog):
    caplog.set_level("DEBUG", logger="halfsky.orchestration")
    task_failure_alert(_context(ValueError("boom")))
    alerting = ("halfsky.orchestration.task_alerts", "halfsky.orchestration.alert_channels")
    records = [r for r in caplog.records if r.name in alerting]
    assert [r.levelname for r in records] == ["INFO"]
    assert records[0].getMessage().startswith("no alert channel configured (connections halfsky_smtp, halfsky_webhook)")


@pytest.mark.slow
def test_in_a_real_airflow_run_retry_and_failure_are_reported_despite_a_dead_mail_server(
        airflow_env, webhook_server, tmp_path):
    """A mapped task fails twice under `airflow dags test`: the webhook hears the retry and the failure, the mail
    server is down, and the run still ends failed for the task's own error."""
    webhook_server.received.clear()
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "alerts_probe.py").write_text(textwrap.dedent("""
        from datetime import datetime, timedelta
        from airflow.sdk import dag, get_current_context, task
        from halfsky.orchestration.task_alerts import task_failure_alert, task_retry_alert

        @dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False,
             default_args={"retries": 1, "retry_delay": timedelta(0),
                           "on_failure_callback": task_failure_alert, "on_retry_callback": task_retry_alert})
        def alerts_probe():
            @task(map_index_template="{{ unit }}")
            def ingest(unit: str):
                get_current_context()["unit"] = unit
                raise RuntimeError(f"batch {unit} could not be decided\\nmore detail")
            ingest.expand(unit=["150100"])

        alerts_probe()
    """), encoding="utf-8")
    env = {**airflow_env, "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
           "AIRFLOW_CONN_HALFSKY_SMTP": _smtp_uri(_free_port()), "AIRFLOW_VAR_ALERT_EMAILS": RECIPIENTS[0],
           "AIRFLOW_CONN_HALFSKY_WEBHOOK": _webhook_json(webhook_server.server_address[1])}
    airflow = str(Path(sys.executable).with_name("airflow"))
    run = subprocess.run([airflow, "dags", "test", "alerts_probe", "2026-10-21"], env=env, capture_output=True,
                         text=True, timeout=300)
    output = run.stdout + run.stderr
    assert "DagRun Finished: dag_id=alerts_probe" in output and "state=failed" in output, output[-3000:]
    assert "RuntimeError: batch 150100 could not be decided" in output  # the real error stays in the log
    assert "alert not sent by email" in output and WEBHOOK_TOKEN not in output
    kinds = [(p["json"]["kind"], p["json"]["try_number"], p["json"]["map_index_label"]) for p in webhook_server.received]
    assert kinds == [("task_retry", 1, "150100"), ("task_failure", 2, "150100")]
    failure = webhook_server.received[-1]["json"]
    assert failure["dag_id"] == "alerts_probe" and failure["task_id"] == "ingest"
    assert failure["error"] == "RuntimeError: batch 150100 could not be decided"
    assert "/dags/alerts_probe/runs/" in failure["log_url"] and "try_number=2" in failure["log_url"]
    assert "任务失败" in failure["text"] and "Task failed" in failure["text"]


# -- each unit hears of its own drops (contract v3, "Who hears of it") --

UNIT_ADDRESS = "tongji@150100.example.org"


def test_each_unit_hears_of_its_own_drops_once_and_the_digest_names_the_units_without_an_address(
        night, channels, monkeypatch):
    from halfsky.orchestration.unit_notices import send_unit_notices

    monkeypatch.setenv("AIRFLOW_VAR_UNIT_EMAILS", json.dumps({"150100": UNIT_ADDRESS}))
    result = send_unit_notices(night.dsn, RUN_1)
    assert result["sent"] == ["150100"] and result["unreachable"] == ["150200"] and not result["failed"]
    [envelope] = [e for e in channels.inbox.envelopes if UNIT_ADDRESS in e.rcpt_tos]
    assert envelope.rcpt_tos == [UNIT_ADDRESS], "a unit's notice goes to that unit alone"
    [message] = [m for m in channels.inbox.messages() if m["To"] == UNIT_ADDRESS]
    assert "150100" in message["Subject"] and "被退回" in message["Subject"] and "rejected" in message["Subject"]
    body = _html_part(message)
    own = [Path(d["path"]).name for d in night.bad if d["prefecture_code"] == "150100"]
    others = [Path(d["path"]).name for d in night.bad if d["prefecture_code"] != "150100"]
    assert own and all(name in body for name in own)
    assert not any(name in body for name in others), "a unit never sees another unit's drops"
    assert "请按报告更正后重新报送" in body and "send it again" in body

    again = send_unit_notices(night.dsn, RUN_1)  # a retried task tells no one twice
    assert again["sent"] == [] and len([e for e in channels.inbox.envelopes if UNIT_ADDRESS in e.rcpt_tos]) == 1

    # The admins' digest names the unit no one could tell (send_night_digest adds unreachable_units to it).
    from dataclasses import replace
    from halfsky.orchestration.unit_notices import unreachable_units
    assert unreachable_units(night.dsn, RUN_1) == ["150200"]
    _, text, html_body = format_digest(replace(night_digest(night.dsn, RUN_1, NIGHT_1), unreachable=("150200",)))
    assert "Units not told of their drops (no address in the Variable unit_emails): 150200" in text
    assert "无法通知的单位" in html_body and "150200" in html_body


def test_a_returned_period_reaches_its_unit_with_the_reviewers_comment(channels, monkeypatch):
    from halfsky.orchestration.unit_notices import notify_return

    monkeypatch.setenv("AIRFLOW_VAR_UNIT_EMAILS", json.dumps({"150100": UNIT_ADDRESS}))
    assert notify_return("150100", "2026-09", reviewer="省妇联审核员", comment="支出凭证号缺失 <b>voucher</b> missing")
    [message] = [m for m in channels.inbox.messages() if m["To"] == UNIT_ADDRESS]
    body = _html_part(message)
    assert "退回" in message["Subject"] and "2026-09" in message["Subject"]
    assert "支出凭证号缺失 &lt;b&gt;voucher&lt;/b&gt; missing" in body and "省妇联审核员" in body
    assert not notify_return("150200", "2026-09", reviewer="x", comment="y"), "no address: not sent, and said so"
