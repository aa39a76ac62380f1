"""Alert channels: how an alert leaves halfsky, whatever it says.

Two channels, each optional, both set up in Airflow (or as ``AIRFLOW_CONN_*``/``AIRFLOW_VAR_*``):

- e-mail through the smtp provider, connection ``halfsky_smtp``, to the comma-separated
  addresses of the Variable ``alert_emails``;
- a JSON POST to the connection ``halfsky_webhook`` (``{subject, text, dag_id, run_id, ...}``).

With neither, nothing is sent (``configured_notifiers`` is empty) and the caller only logs. ``deliver`` sends
on each channel on its own: one that fails does not stop the others. What is said, and when, is
``task_alerts``.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import BaseHook, BaseNotifier, Variable
from airflow.sdk.exceptions import AirflowNotFoundException

from halfsky.config.settings import address_list
from halfsky.contract.untrusted_text import mask_id_numbers_in

log = logging.getLogger(__name__)

SMTP_CONN_ID = "halfsky_smtp"
WEBHOOK_CONN_ID = "halfsky_webhook"
RECIPIENTS_VARIABLE = "alert_emails"
WEBHOOK_TIMEOUT_S = 10
EMAIL, WEBHOOK = "email", "webhook"


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
        body = {"subject": self.subject, "text": self.text, **context_fields(context), **self.payload}
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
    return address_list(Variable.get(RECIPIENTS_VARIABLE, default=None))


# -- channels ----------------------------------------------------------------------------------------------

def has_connection(conn_id: str) -> bool:
    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True


def configured_notifiers(alert: Alert) -> dict[str, BaseNotifier]:
    """A notifier for each channel an admin has set up, by channel name."""
    notifiers: dict[str, BaseNotifier] = {}
    if has_connection(SMTP_CONN_ID):
        recipients = alert_recipients()
        if recipients:
            notifiers[EMAIL] = EmailNotifier(alert.subject, alert.html, to=recipients)
        else:
            log.warning("connection %s is set but the Variable %s names no address: no e-mail is sent",
                        SMTP_CONN_ID, RECIPIENTS_VARIABLE)
    if has_connection(WEBHOOK_CONN_ID):
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


def context_fields(context) -> dict[str, Any]:
    """dag_id, run_id and task_id, as far as an Airflow context tells: the webhook sends them with every alert."""
    ti = context.get("ti") or context.get("task_instance")
    fields = {
        "dag_id": getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", None),
        "run_id": context.get("run_id") or getattr(ti, "run_id", None),
        "task_id": getattr(ti, "task_id", None),
    }
    return {k: v for k, v in fields.items() if v is not None}
