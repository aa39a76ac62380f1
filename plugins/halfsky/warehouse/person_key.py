"""The person key's fingerprint: marts are only ever built with the key they were built with.

``beneficiary_key`` is HMAC-SHA256(id number, key). Built with another key, the new
rows of ``fct_benefits`` would match no ``dim_beneficiary`` row and the same woman
would count twice. So the warehouse stores a keyed fingerprint of the key (never
the key), and a build with a different key is refused before anything is touched.

Changing the key on purpose re-keys every beneficiary at once:
``python -m halfsky.warehouse.person_key rotate`` (after setting the new key).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import logging
import sys

from halfsky.config.settings import person_hmac_key, warehouse_dsn
from halfsky.warehouse.schema import connect

log = logging.getLogger(__name__)

# Every model whose rows hold a beneficiary_key, and what is built from them.
PERSON_KEYED = "int_persons+"


class PersonKeyChanged(RuntimeError):
    pass


def fingerprint(key: bytes) -> str:
    return hmac.new(key, b"halfsky person key fingerprint v1", hashlib.sha256).hexdigest()


def stored_fingerprint(dsn: str | None = None) -> str | None:
    with connect(dsn) as conn:
        row = conn.execute("select fingerprint from ingest.person_key").fetchone()
    return row[0] if row else None


def ensure_same_key(key: bytes, dsn: str | None = None) -> None:
    """Record the key's fingerprint on the first build; refuse a build with any other key."""
    given = fingerprint(key)
    with connect(dsn) as conn:
        conn.execute("insert into ingest.person_key (fingerprint) values (%s) on conflict do nothing", (given,))
        stored = conn.execute("select fingerprint from ingest.person_key").fetchone()[0]
    if stored != given:
        raise PersonKeyChanged(
            "the person key (HALFSKY_PERSON_HMAC_KEY or the password of the Airflow connection 'person_hmac_key') "
            f"is not the key the marts were built with (fingerprint {given[:12]}… given, {stored[:12]}… stored). "
            "Nothing was built: the marts stay as they were. If the key changed by mistake, restore it. "
            "To re-key every beneficiary on purpose, run: python -m halfsky.warehouse.person_key rotate")


def rotate(as_of_date: str, dsn: str | None = None) -> None:
    """Rebuild every person-keyed model from scratch with the key now configured, then record it."""
    from datetime import date

    from halfsky.warehouse.dbt_runner import night_env, person_key_options, run_dbt

    with connect(dsn) as conn:
        purged = conn.execute("select count(*) from raw.purged_persons").fetchone()[0]
    if purged:  # their id numbers are gone: they cannot be hashed again, and would split from everyone else
        raise PersonKeyChanged(f"{purged} persons' id numbers were purged after their retention (halfsky.warehouse.retention); "
                               "they cannot be re-keyed, so the key cannot be rotated. Nothing was changed.")
    key = person_hmac_key()
    log.info("re-keying every beneficiary: dbt build --full-refresh --select %s", PERSON_KEYED)
    run_dbt(["build", "--full-refresh", "--select", PERSON_KEYED], dsn=dsn,
            extra_env={**night_env(date.fromisoformat(as_of_date)), **person_key_options(key)})
    with connect(dsn) as conn:
        conn.execute("""insert into ingest.person_key (fingerprint) values (%s)
                        on conflict (singleton) do update set fingerprint = excluded.fingerprint, recorded_at = now()""",
                     (fingerprint(key),))
    log.info("person key rotated: fingerprint %s…", fingerprint(key)[:12])


def main(argv: list[str] | None = None) -> int:
    from datetime import date

    p = argparse.ArgumentParser(prog="python -m halfsky.warehouse.person_key", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="say whether the configured key is the one the marts were built with")
    rotate_cmd = sub.add_parser("rotate", help="re-key every beneficiary with the configured key (full rebuild)")
    rotate_cmd.add_argument("--as-of", default=date.today().isoformat(), help="as_of_date for the rebuilt reports (YYYY-MM-DD)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "rotate":
        rotate(args.as_of, warehouse_dsn())
        return 0
    stored = stored_fingerprint(warehouse_dsn())
    given = fingerprint(person_hmac_key())
    if stored is None:
        print("no marts built yet: the first build records this key")
    elif stored == given:
        print(f"the configured key built the marts (fingerprint {given[:12]}…)")
    else:
        print(f"the configured key is NOT the one the marts were built with ({given[:12]}… vs {stored[:12]}…)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
