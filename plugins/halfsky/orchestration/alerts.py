"""Alerts: a short zh/en message when a task fails or will be retried, and the night's digest once per run.

Two channels, each optional, both set up in Airflow (or as ``AIRFLOW_CONN_*``/``AIRFLOW_VAR_*``):

- e-mail through the smtp provider, connection ``halfsky_smtp``, to the comma-separated
  addresses of the Variable ``alert_emails``;
- a JSON POST to the connection ``halfsky_webhook`` (``{subject, text, dag_id, run_id, ...}``).

With neither, alerts are only logged. An alert never fails the task it reports on.
"""

from __future__ import annotations

import html
import json
import logging
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import BaseHook, BaseNotifier, Variable
from airflow.sdk.exceptions import AirflowNotFoundException

from halfsky.orchestration.night_digest import digest_payload, format_digest, night_digest
from halfsky.contract.untrusted_text import mask_id_numbers_in, printable_name

log = logging.getLogger(__name__)

SMTP_CONN_ID = "halfsky_smtp"
WEBHOOK_CONN_ID = "halfsky_webhook"
RECIPIENTS_VARIABLE = "alert_emails"
WEBHOOK_TIMEOUT_S = 10
EMAIL, WEBHOOK = "email", "webhook"

# Owned here rather than in warehouse.py: only send_night_digest writes it. One row per run: the channels
# the digest went out on, so a retried or cleared task sends on the others only, never twice on one.
NIGHT_ALERTS_DDL = """
create table if not exists ingest.night_alerts (
    run_id    text primary key,
    as_of     timestamptz not null,
    sent_at   timestamptz,
    channels  text[] not null default '{}',
    rejected  int not null,
    missing   int not null   -- reporting units with a report missing after its deadline
);
"""


class AlertNotSent(RuntimeError):
    """A configured channel refused the night's digest; the channels that took it are recorded."""


@dataclass(frozen=True)
class Alert:
    """What goes out by e-mail and webhook: every text in it masked for id numbers, whatever its parts quoted."""

    subject: str
    text: str
    html: str
    payload: dict[str, Any] = field(default_factory=dict)  # more JSON fields for the webhook

    def __post_init__(self) -> None:
        for name in ("subject", "text", "html", "payload"):
            object.__setattr__(self, name, _masked(getattr(self, name)))


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_id_numbers_in(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    return value


# -- notifiers ----------------------------------------------------------------------------------------------

class WebhookNotifier(BaseNotifier):
    """POST ``{subject, text, dag_id, run_id, task_id, ...}`` as JSON to the URL of an Airflow connection.

    The URL is ``<schema or conn type>://<host>[:<port>]<extra.endpoint>``; a host that holds a whole URL
    is used as it is, and in the URI form of a connection the path (which Airflow puts in ``schema``) is the
    endpoint. ``extra.headers`` are sent too (a token, say): neither they nor the URL's path are logged.
    """

    template_fields = ()  # the text carries drop names and exception messages: never rendered as Jinja

    def __init__(self, subject: str, text: str, *, payload: dict[str, Any] | None = None,
                 webhook_conn_id: str = WEBHOOK_CONN_ID, timeout: float = WEBHOOK_TIMEOUT_S, **kwargs):
        super().__init__(**kwargs)
        self.subject = subject
        self.text = text
        self.payload = payload or {}
        self.webhook_conn_id = webhook_conn_id
        self.timeout = timeout

    def notify(self, context) -> None:
        conn = BaseHook.get_connection(self.webhook_conn_id)
        body = {"subject": self.subject, "text": self.text, **_context_fields(context), **self.payload}
        request = urllib.request.Request(
            webhook_url(conn), method="POST",
            data=json.dumps(body, ensure_ascii=False, default=str).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8", **_webhook_headers(conn)})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # raises on 4xx/5xx
            self.log.info("webhook %s (%s) answered HTTP %s", self.webhook_conn_id, conn.host, response.status)


def webhook_url(conn) -> str:
    schemes = ("http", "https")
    if conn.host and "://" in conn.host:
        url = conn.host
    else:
        scheme = next((s for s in (conn.schema, conn.conn_type) if s in schemes), "https")
        url = f"{scheme}://{conn.host}{f':{conn.port}' if conn.port else ''}"
        path = conn.extra_dejson.get("endpoint") or ("" if conn.schema in schemes else conn.schema or "")
        if path:
            url = f"{url}/{path.lstrip('/')}"
    if not url.startswith(tuple(f"{s}://" for s in schemes)):
        raise ValueError(f"connection {conn.conn_id}: the webhook must be an http(s) URL")
    return url


def _webhook_headers(conn) -> dict[str, str]:
    headers = conn.extra_dejson.get("headers") or {}
    if isinstance(headers, str):  # the URI form of a connection carries extras as strings
        headers = json.loads(headers)
    return {str(k): str(v) for k, v in headers.items()}


class EmailNotifier(SmtpNotifier):
    """An HTML e-mail through the smtp provider's connection ``halfsky_smtp`` (its ``from_email`` extra is the
    sender) to the addresses of the Variable ``alert_emails``."""

    template_fields = ()  # as for the webhook: drop names and exception messages are not templates

    def __init__(self, subject: str, html_content: str, *, to: list[str] | None = None,
                 smtp_conn_id: str = SMTP_CONN_ID, **kwargs):
        super().__init__(to=to if to is not None else alert_recipients(), subject=subject,
                         html_content=html_content, smtp_conn_id=smtp_conn_id, **kwargs)


def alert_recipients() -> list[str]:
    value = Variable.get(RECIPIENTS_VARIABLE, default=None) or ""
    return [address.strip() for address in value.replace(";", ",").split(",") if address.strip()]


# -- channels ----------------------------------------------------------------------------------------------

def _has_connection(conn_id: str) -> bool:
    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True


def configured_notifiers(alert: Alert) -> dict[str, BaseNotifier]:
    """A notifier for each channel an admin has set up, by channel name."""
    notifiers: dict[str, BaseNotifier] = {}
    if _has_connection(SMTP_CONN_ID):
        recipients = alert_recipients()
        if recipients:
            notifiers[EMAIL] = EmailNotifier(alert.subject, alert.html, to=recipients)
        else:
            log.warning("connection %s is set but the Variable %s names no address: no e-mail is sent",
                        SMTP_CONN_ID, RECIPIENTS_VARIABLE)
    if _has_connection(WEBHOOK_CONN_ID):
        notifiers[WEBHOOK] = WebhookNotifier(alert.subject, alert.text, payload=alert.payload)
    return notifiers


def deliver(notifiers: dict[str, BaseNotifier], context) -> tuple[list[str], dict[str, str]]:
    """Send on every channel, each on its own: (channels that took it, {channel: why not})."""
    sent, failed = [], {}
    for name, notifier in notifiers.items():
        try:
            notifier.notify(context)
        except Exception as exc:  # any channel's error: the others still get the alert
            failed[name] = f"{type(exc).__name__}: {exc}"
            log.warning("alert not sent by %s: %s", name, failed[name])
        else:
            sent.append(name)
    return sent, failed


def _current_context() -> dict:
    try:
        from airflow.sdk import get_current_context

        return get_current_context()
    except Exception:  # not inside a running task (tests, the command line)
        return {}


def _context_fields(context) -> dict[str, Any]:
    ti = context.get("ti") or context.get("task_instance")
    fields = {
        "dag_id": getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", None),
        "run_id": context.get("run_id") or getattr(ti, "run_id", None),
        "task_id": getattr(ti, "task_id", None),
    }
    return {k: v for k, v in fields.items() if v is not None}


# -- task failure and retry --------------------------------------------------------------------------------

def task_failure_alert(context) -> None:
    """``on_failure_callback``: tell the admins a task failed for good. Never raises."""
    _task_alert(context, will_retry=False)


def task_retry_alert(context) -> None:
    """``on_retry_callback``: tell the admins a task failed and will be retried. Never raises."""
    _task_alert(context, will_retry=True)


def _task_alert(context, *, will_retry: bool) -> None:
    try:
        alert = task_alert(context, will_retry=will_retry)
        notifiers = configured_notifiers(alert)
        if not notifiers:
            log.info("no alert channel configured (connections %s, %s): %s", SMTP_CONN_ID, WEBHOOK_CONN_ID,
                     alert.subject)
            return
        deliver(notifiers, context)
    except Exception as exc:  # a broken alert channel must not hide the task's own failure
        log.warning("could not send the task alert: %s: %s", type(exc).__name__, exc)


def _first_line(exc: object) -> str:
    if exc is None:
        return "—"
    if isinstance(exc, BaseException):
        message = str(exc).strip().splitlines()
        line = f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__
    else:  # Airflow may hand a string
        line = (str(exc).strip().splitlines() or ["—"])[0]
    return mask_id_numbers_in(printable_name(line[:500]))


def _map_index_label(ti) -> str | None:
    label = getattr(ti, "rendered_map_index", None)
    map_index = getattr(ti, "map_index", None)
    if not label and map_index is not None and map_index >= 0:
        label = str(map_index)
    return mask_id_numbers_in(printable_name(str(label))) if label else None


def _tries(ti) -> tuple[str, str]:
    """("第 2 次尝试（最多 3 次）", "try 2 of 3"), as far as the task instance tells."""
    try_number, max_tries = getattr(ti, "try_number", None), getattr(ti, "max_tries", None)
    if try_number is None:
        return "尝试次数未知", "try unknown"
    if max_tries is None:
        return f"第 {try_number} 次尝试", f"try {try_number}"
    return f"第 {try_number} 次尝试（最多 {max_tries + 1} 次）", f"try {try_number} of {max_tries + 1}"


def task_alert(context, *, will_retry: bool) -> Alert:
    """The short message for a failed task: dag, task, map index label, try, the error's first line, the log."""
    ti = context.get("ti") or context.get("task_instance")
    fields = _context_fields(context)
    label = _map_index_label(ti)
    task = f"{fields.get('dag_id', '?')}.{fields.get('task_id', '?')}" + (f" [{label}]" if label else "")
    tries_zh, tries_en = _tries(ti)
    try:
        log_url = getattr(ti, "log_url", None)
    except Exception:  # the property reads the config: a missing log link is no reason to send nothing
        log_url = None
    error = _first_line(context.get("exception"))
    if will_retry:
        headline_zh, headline_en, kind = "任务出错，将重试", "task failed, will be retried", "task_retry"
    else:
        headline_zh, headline_en, kind = "任务失败", "task failed", "task_failure"
    lines = [
        f"{headline_zh}：{task}，{tries_zh} / {headline_en.capitalize()}: {task}, {tries_en}",
        f"运行 / run: {fields.get('run_id', '—')}",
        f"错误 / error: {error}",
    ]
    e = html.escape
    if log_url and log_url.startswith(("http://", "https://")):
        log_html = f"<a href=\"{e(log_url)}\">{e(log_url)}</a>"
    else:
        log_html = e(log_url or "—")
    text = "\n".join([*lines, f"日志 / log: {log_url or '—'}"]) + "\n"
    body = "<br>\n".join([*(e(line) for line in lines), f"日志 / log: {log_html}"])
    payload = {"kind": kind, **fields, "map_index": getattr(ti, "map_index", None), "map_index_label": label,
               "try_number": getattr(ti, "try_number", None), "error": error, "log_url": log_url}
    return Alert(f"半边天 {headline_zh} / {headline_en}: {task}", text,
                 f"<!doctype html>\n<html><body>\n{body}\n</body></html>\n", payload)


# -- the night's digest ------------------------------------------------------------------------------------

def send_night_digest(dsn: str, run_id: str, as_of: datetime, run_url: str | None = None) -> dict:
    """Compose the night's digest and send it on every configured channel, once per ``run_id``.

    Returns counts (``rejected``, ``missing_units``, ``missing_reports``), the channels ``sent`` now and
    ``already_sent`` by an earlier try, and ``missing``: ``[{unit, period, report}]``.
    Raises AlertNotSent when a channel refused it (after recording the ones that took it), so a retry of
    the task sends on the missing channels only.
    """
    digest = night_digest(dsn, run_id, as_of)
    subject, text, html_body = format_digest(digest, run_url)
    summary = {"run_id": run_id, "rejected": len(digest.rejected), "missing_units": len(digest.missing_units),
               "missing_reports": len(digest.missing), "sent": [], "already_sent": [],
               # one entry per report missing after its deadline, for the DAG's per-unit attention boxes
               "missing": [{"unit": m.unit_code, "period": m.period, "report": m.report} for m in digest.missing]}
    alert = Alert(subject, text, html_body, {"kind": "night_digest", "run_url": run_url, **digest_payload(digest)})
    notifiers = configured_notifiers(alert)
    if not notifiers:
        log.info("no alert channel configured (connections %s, %s); the night's digest:\n%s",
                 SMTP_CONN_ID, WEBHOOK_CONN_ID, text)
        return summary
    with psycopg.connect(dsn) as conn, conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('halfsky.night_alerts'))")  # one creator of the table
        conn.execute(NIGHT_ALERTS_DDL)
        conn.execute("insert into ingest.night_alerts (run_id, as_of, rejected, missing) values (%s, %s, %s, %s) "
                     "on conflict (run_id) do nothing",
                     (run_id, as_of, summary["rejected"], summary["missing_units"]))
        # Held until commit: a second task sending for the same run waits here, then finds the channels taken.
        already = conn.execute("select channels from ingest.night_alerts where run_id = %s for update",
                               (run_id,)).fetchone()[0]
        pending = {name: n for name, n in notifiers.items() if name not in already}
        sent, failed = deliver(pending, _current_context())
        if sent:
            conn.execute("update ingest.night_alerts set channels = %s, sent_at = now(), rejected = %s, missing = %s "
                         "where run_id = %s",
                         (sorted({*already, *sent}), summary["rejected"], summary["missing_units"], run_id))
    summary.update(sent=sent, already_sent=sorted(already))
    if already and not pending:
        log.info("the digest of run %s went out before on %s: not sent again", run_id, ", ".join(sorted(already)))
    else:
        log.info("digest of run %s: %s; sent on %s", run_id, subject, ", ".join(sent) or "no channel")
    if failed:
        raise AlertNotSent(f"the night's digest was not sent on {', '.join(failed)}: "
                           + "; ".join(f"{name}: {why}" for name, why in failed.items()))
    return summary
