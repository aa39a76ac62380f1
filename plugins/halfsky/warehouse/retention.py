"""Purge raw personal data after its retention period, leaving the marts as they are.

For every decided drop whose period ended more than ``months`` months before the run's as-of month:
- each id number in ``raw.beneficiaries`` becomes a pseudonym (``P`` and 17 hex digits of the person's
  key), the same for the same person everywhere, and the person's key, gender, birth date and issuing
  code are kept in ``raw.purged_persons``: the dbt models read them in place of the id number, so a full
  rebuild gives the same marts;
- names become null, and id numbers typed into free text (a counterparty, a voucher number, remarks, a source;
  with separators or in the 15-digit form) are masked by reference.mask_id_numbers, halfsky.contract.id_numbers' patterns;
- the quarantined bytes of a rejected drop are deleted (its report stays: id numbers there are masked);
- ``ingest.submissions.personal_data_purged_at`` is set, which writes a ``purged`` line in the audit log.

Runs in one transaction per night as the loader role; the person key reaches Postgres as a session
setting (connection options), never in SQL text. A purged person can no longer be looked up by id number
(the history warnings, ``cash_over_cap``, see only the retained years), and the person key cannot be
rotated over purged persons (``halfsky.warehouse.person_key`` refuses).

    python -m halfsky.warehouse.retention --months 36 [--as-of 2026-11-23T02:00:00+08:00]
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime, timezone

import psycopg

from halfsky.warehouse.audit import command_line_actor, declare_actor
from halfsky.contract.periods import SHANGHAI
from halfsky.config.settings import DEFAULT_RETENTION_MONTHS, RETENTION_VARIABLE, retention_months
from halfsky.warehouse.roles import LOADER, assume

log = logging.getLogger(__name__)

def cutoff_period(as_of: datetime, months: int) -> str:
    """The first month whose drops are kept: 2026-11 with 36 months keeps 2023-11 onwards."""
    local = as_of.astimezone(SHANGHAI)
    index = local.year * 12 + local.month - 1 - months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


_DUE = """
create temporary table purge_due on commit drop as
select submission_id, quarantine_path, drop_name
from ingest.submissions
where personal_data_purged_at is null and status <> 'pending'
  and (case when period ~ '^[0-9]{4}$' then period || '-12' else period end) < %s
"""

_KEEP_PERSONS = """
insert into raw.purged_persons (pseudonym, beneficiary_key, gender, birth_year, birth_date, issuing_code)
select 'P' || upper(left(k.beneficiary_key, 17)), k.beneficiary_key,
       case when substr(k.id_number, 17, 1)::int % 2 = 1 then 'M' else 'F' end,
       substr(k.id_number, 7, 4)::int, to_date(substr(k.id_number, 7, 8), 'YYYYMMDD'), substr(k.id_number, 1, 6)
from (
    select ids.id_number, encode(hmac(ids.id_number, current_setting('halfsky.person_key'), 'sha256'), 'hex') as beneficiary_key
    from (select distinct upper(trim(b.id_number)) as id_number
          from raw.beneficiaries b join purge_due d using (submission_id)
          where b.id_number not like 'P%%') as ids
) as k
on conflict (pseudonym) do nothing
"""

_PSEUDONYMISE = """
update raw.beneficiaries b
   set id_number = p.pseudonym, name = null
  from raw.purged_persons p, purge_due d
 where d.submission_id = b.submission_id
   and b.id_number not like 'P%%'
   and p.beneficiary_key = encode(hmac(upper(trim(b.id_number)), current_setting('halfsky.person_key'), 'sha256'), 'hex')
"""

def _free_text_columns() -> list[tuple[str, str]]:
    """(raw table, column) of every free-text field but a beneficiary's name (nulled above)."""
    from halfsky.contract.forms import FORMS, TEXT

    return [(form.name, f.name) for form in FORMS.values() for f in form.fields
            if f.kind == TEXT and (form.name, f.name) != ("beneficiaries", "name")]


def _mask_free_text(conn: psycopg.Connection) -> int:
    """Id numbers typed into the due drops' free text, masked as the marts mask them; returns the cells changed."""
    from halfsky.contract.id_numbers import ID_HINT_PATTERN

    changed = 0
    for table, column in _free_text_columns():
        changed += conn.execute(
            f"update raw.{table} t set {column} = reference.mask_id_numbers(t.{column}) from purge_due d "
            f"where d.submission_id = t.submission_id and t.{column} ~ %s "
            f"and t.{column} is distinct from reference.mask_id_numbers(t.{column})", (ID_HINT_PATTERN,)).rowcount
    return changed


def purge_personal_data(dsn: str, as_of: datetime, months: int, key: bytes, *, actor: str | None = None) -> dict:
    """Purge what is older than ``months`` before ``as_of``'s month; returns counts for the log and the task."""
    from halfsky.warehouse.person_key import ensure_same_key

    ensure_same_key(key, dsn)  # pseudonyms keyed with another key would split every purged person from the marts
    cutoff = cutoff_period(as_of, months)
    with psycopg.connect(dsn, options=f"-c halfsky.person_key={key.hex()}") as conn:
        assume(conn, LOADER)
        declare_actor(conn, actor or command_line_actor())
        with conn.transaction():
            conn.execute(_DUE, (cutoff,))
            drops = conn.execute("select count(*) from purge_due").fetchone()[0]
            persons = conn.execute(_KEEP_PERSONS).rowcount
            rows = conn.execute(_PSEUDONYMISE).rowcount
            leftover = conn.execute(
                "select count(*) from raw.beneficiaries b join purge_due d using (submission_id) "
                "where b.id_number not like 'P%%' or b.name is not null").fetchone()[0]
            if leftover:  # never mark a drop purged that still holds personal data
                raise RuntimeError(f"{leftover} beneficiary rows of the due drops still hold an id number or name")
            texts = _mask_free_text(conn)
            quarantined = conn.execute(
                "select quarantine_path, drop_name from purge_due where quarantine_path is not null").fetchall()
            conn.execute("update ingest.submissions s set personal_data_purged_at = %s from purge_due d "
                         "where d.submission_id = s.submission_id", (as_of,))
    files = _delete_quarantined_bytes(quarantined)
    counts = {"cutoff": cutoff, "drops": drops, "new_pseudonyms": persons, "beneficiary_rows": rows,
              "free_text_cells_masked": texts, "quarantined_drops_deleted": files}
    log.info("personal data purged from drops before %s (retention %d months): %s", cutoff, months, counts)
    return counts


def _delete_quarantined_bytes(quarantined: list[tuple[str, str]]) -> int:
    """The quarantined copies of purged drops; their reports stay. A store failure is logged, and the next
    purge does not retry it (the drop is marked purged): the log names what to delete by hand."""
    from halfsky.config.object_store import filesystem

    deleted = 0
    for qpath, _name in quarantined:
        target = f"{qpath.rstrip('/')}/drop"
        try:
            fs, path = filesystem(target)
            if fs.exists(path):
                fs.rm(path, recursive=True)
                deleted += 1
        except Exception as exc:  # any store's error: the warehouse side is purged already
            log.error("could not delete the quarantined bytes %s: %s; delete them by hand", target, exc)
    return deleted


def main(argv: list[str] | None = None) -> int:
    from halfsky.config.settings import person_hmac_key, warehouse_dsn

    p = argparse.ArgumentParser(prog="python -m halfsky.warehouse.retention", description=__doc__.splitlines()[0])
    p.add_argument("--months", type=int, default=None, help=f"retention in months (default: the variable "
                   f"{RETENTION_VARIABLE}, else {DEFAULT_RETENTION_MONTHS})")
    p.add_argument("--as-of", help="ISO time the retention counts back from (default: now)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    as_of = datetime.fromisoformat(args.as_of) if args.as_of else datetime.now(timezone.utc)
    months = args.months or retention_months()
    print(purge_personal_data(warehouse_dsn(), as_of, months, person_hmac_key()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
