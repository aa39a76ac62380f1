"""Task alerts: what halfsky's tasks tell the admins, on the channels of ``alert_channels``.

- a short zh/en message when a task fails or will be retried (the callbacks ``alert_callbacks`` names);
- the night's digest (``night_digest_queries``, ``night_digest_text``), sent once per run by ``notify_night``,
  with the table ``ingest.night_alerts`` recording the channels it went out on.

An alert never fails the task it reports on; the digest's task fails when a channel refused it, so its retry
sends on that channel only.
"""

from __future__ import annotations

import html
import logging
from dataclasses import replace
from datetime import datetime

import psycopg

from halfsky.contract.untrusted_text import mask_id_numbers_in, printable_name
from halfsky.orchestration.alert_channels import (
    SMTP_CONN_ID,
    WEBHOOK_CONN_ID,
    Alert,
    configured_notifiers,
    context_fields,
    deliver,
)
from halfsky.orchestration.night_digest_queries import night_digest
from halfsky.orchestration.night_digest_text import digest_payload, format_digest

log = logging.getLogger(__name__)

# Owned here rather than in halfsky.warehouse.schema: only send_night_digest writes it. One row per run: the channels
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
    fields = context_fields(context)
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

def _current_context() -> dict:
    try:
        from airflow.sdk import get_current_context

        return get_current_context()
    except Exception:  # not inside a running task (tests, the command line)
        return {}


def send_night_digest(dsn: str, run_id: str, as_of: datetime, run_url: str | None = None) -> dict:
    """Compose the night's digest and send it on every configured channel, once per ``run_id``.

    Returns counts (``rejected``, ``missing_units``, ``missing_reports``), the channels ``sent`` now and
    ``already_sent`` by an earlier try, and ``missing``: ``[{unit, period, report}]``.
    Raises AlertNotSent when a channel refused it (after recording the ones that took it), so a retry of
    the task sends on the missing channels only.
    """
    from halfsky.orchestration.unit_notices import unreachable_units

    digest = replace(night_digest(dsn, run_id, as_of), unreachable=tuple(unreachable_units(dsn, run_id)))
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
