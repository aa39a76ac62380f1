"""Each reporting unit hears of its own drops: what the night rejected or warned about, and a returned period.

Contract v3, "Who hears of it": in Chinese and English, after each night, at the addresses the admins keep for
the unit, never in the repo. Here that is the Airflow Variable ``unit_emails`` (``AIRFLOW_VAR_UNIT_EMAILS``), a
JSON object of unit code to comma-separated addresses, e.g. ``{"654000": "tongji@ili-women.example"}``, sent
through the admins' mail connection ``halfsky_smtp`` (halfsky.orchestration.alert_channels). A unit with news
and no address is unreachable: the admins' digest names it (``unreachable_units``). Each unit hears once per
run (``ingest.unit_notices``), however often the task is retried.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass

import psycopg

from halfsky.config.settings import unit_email_addresses
from halfsky.contract.reference.code_lists import reference_data, unit_label
from halfsky.contract.untrusted_text import mask_id_numbers_in, printable_name
from halfsky.ingest.drop_report import report_location

log = logging.getLogger(__name__)

NOTICES_DDL = """
create table if not exists ingest.unit_notices (
    run_id          text not null,
    prefecture_code text not null,
    sent_at         timestamptz not null default clock_timestamp(),
    primary key (run_id, prefecture_code)
)
"""


@dataclass(frozen=True)
class UnitDrop:
    period: str
    drop_name: str
    status: str           # rejected, or accepted with warnings
    rules: tuple[tuple[str, int, str, str], ...]  # (rule, count, zh, en)
    report: str | None


def night_news(conn: psycopg.Connection, run_id: str) -> dict[str, list[UnitDrop]]:
    """{unit: its drops this run rejected or accepted with warnings}, for known reporting units only (a folder
    that is no unit has no one to tell)."""
    units = reference_data().units
    rows = conn.execute(
        """select prefecture_code, period, drop_name, status, reasons, quarantine_path from ingest.submissions
           where run_id = %s and (status = 'rejected' or (status = 'accepted' and reasons @> '[{"severity": "warning"}]'))
           order by prefecture_code, period, drop_name""", (run_id,)).fetchall()
    news: dict[str, list[UnitDrop]] = {}
    for unit, period, name, status, reasons, quarantine in rows:
        if unit not in units:
            continue
        wanted = "error" if status == "rejected" else "warning"
        rules = tuple((r["rule"], r["count"], r["zh"], r["en"]) for r in reasons if r["severity"] == wanted)
        report = report_location(quarantine)
        news.setdefault(unit, []).append(UnitDrop(period, mask_id_numbers_in(printable_name(name)), status, rules,
                                                  report))
    return news


def unreachable_units(dsn: str, run_id: str) -> list[str]:
    """Units with news this run and no address in unit_emails: the admins' digest names them."""
    addresses = unit_email_addresses()
    with psycopg.connect(dsn) as conn:
        return sorted(unit for unit in night_news(conn, run_id) if not addresses.get(unit))


def night_notice(unit: str, drops: list[UnitDrop]) -> tuple[str, str]:
    """(subject, HTML) of one unit's notice: Chinese first, English beside it."""
    e = html.escape
    rejected = sum(d.status == "rejected" for d in drops)
    warned = len(drops) - rejected
    subject = (f"半边天 {unit_label(unit)}: {rejected} 份报送被退回、{warned} 份有预警 / "
               f"{rejected} drop(s) rejected, {warned} accepted with warnings")
    rows = "".join(
        f"<tr><td>{e(d.period)}</td><td><code>{e(d.drop_name)}</code></td>"
        f"<td>{'退回 rejected' if d.status == 'rejected' else '已接收，有预警 accepted with warnings'}</td>"
        f"<td>{'<br>'.join(f'<b>{e(rule)}</b> ×{count}：{e(zh)}<br><small>{e(en)}</small>' for rule, count, zh, en in d.rules)}</td>"
        f"<td><code>{e(d.report or '—')}</code></td></tr>" for d in drops)
    body = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{e(subject)}</title></head>
<body style="font-family: sans-serif">
<h2>{e(subject)}</h2>
<p>被退回的报送请按报告更正后重新报送；有预警的报送已入库，请核实。<br>
<small>Fix a rejected drop as its report says and send it again; a drop with warnings is loaded: please check it.</small></p>
<table border="1" cellpadding="4" cellspacing="0">
<tr><th>报送期<br>Period</th><th>文件<br>Drop</th><th>结果<br>Outcome</th><th>原因<br>Rules</th><th>报告<br>Report</th></tr>
{rows}
</table></body></html>"""
    return subject, body


def send_unit_notices(dsn: str, run_id: str) -> dict:
    """Mail each unit its news of ``run_id`` once; returns {"sent", "unreachable", "failed", "no_channel"}."""
    from halfsky.orchestration.alert_channels import SMTP_CONN_ID, EmailNotifier, has_connection

    addresses = unit_email_addresses()
    result: dict = {"sent": [], "unreachable": [], "failed": {}, "no_channel": False}
    with psycopg.connect(dsn, autocommit=True) as conn:
        news = night_news(conn, run_id)
        result["unreachable"] = sorted(unit for unit in news if not addresses.get(unit))
        reachable = {unit: drops for unit, drops in news.items() if addresses.get(unit)}
        if reachable and not has_connection(SMTP_CONN_ID):
            result["no_channel"] = True
            log.warning("no mail connection %s: %d unit(s) not told of their drops: %s", SMTP_CONN_ID,
                        len(reachable), ", ".join(sorted(reachable)))
            return result
        conn.execute(NOTICES_DDL)
        for unit, drops in sorted(reachable.items()):
            try:
                with conn.transaction():
                    claimed = conn.execute("insert into ingest.unit_notices (run_id, prefecture_code) values (%s, %s) "
                                           "on conflict do nothing returning 1", (run_id, unit)).fetchone()
                    if not claimed:
                        continue  # told by an earlier try of this run
                    subject, body = night_notice(unit, drops)
                    try:
                        EmailNotifier(subject, body, to=addresses[unit]).notify({})
                    except Exception as exc:  # noqa: BLE001  one unit's mail server must not silence the others
                        result["failed"][unit] = f"{type(exc).__name__}: {exc}"
                        raise _Unsent from exc  # rolls the claim back, so a retry tells this unit
            except _Unsent:
                continue
            result["sent"].append(unit)
    log.info("units told of their drops: %s; unreachable (no address): %s", ", ".join(result["sent"]) or "none",
             ", ".join(result["unreachable"]) or "none")
    if result["failed"]:
        raise UnitNoticesNotSent("not told of their drops: " + "; ".join(f"{u}: {why}" for u, why in result["failed"].items()))
    return result


class _Unsent(Exception):
    pass


class UnitNoticesNotSent(RuntimeError):
    """Some units' notices did not go out; the others did, and a retry sends only the missing ones."""


def notify_return(prefecture_code: str, period: str, *, reviewer: str, comment: str) -> bool:
    """Tell the unit that the province returned its period, with the reviewer's comment. False when the unit
    has no address or no mail connection is set (logged); the return is recorded either way."""
    from halfsky.orchestration.alert_channels import SMTP_CONN_ID, EmailNotifier, has_connection

    addresses = unit_email_addresses().get(prefecture_code)
    if not addresses or not has_connection(SMTP_CONN_ID):
        log.warning("%s %s returned, but the unit cannot be told (%s)", prefecture_code, period,
                    "no address in unit_emails" if not addresses else f"no connection {SMTP_CONN_ID}")
        return False
    e = html.escape
    subject = f"半边天 {unit_label(prefecture_code)} {period}: 省妇联退回，请更正后重新报送 / returned by the province"
    body = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{e(subject)}</title></head>
<body style="font-family: sans-serif"><h2>{e(subject)}</h2>
<p>审核人 / Reviewer: {e(reviewer)}</p>
<p>意见 / Comment:</p><blockquote>{e(mask_id_numbers_in(comment))}</blockquote>
<p>请按意见更正后重新报送该期报表。<br><small>Please correct the period as the comment says and send it again.</small></p>
</body></html>"""
    EmailNotifier(subject, body, to=addresses).notify({})
    return True
