"""Accounts of the upload page: one or more per reporting unit, made by an admin from the command line.

Passwords are hashed with argon2id by argon2-cffi (its ``PasswordHasher`` defaults, RFC 9106's low-memory
profile), and a hash made with older parameters is replaced at the next login. A name that does not exist is
checked against a dummy hash, so a login takes as long whether the name exists or not.

``python -m halfsky.portal.accounts add ili --unit 654000`` asks for the password twice (or reads one line from
stdin with ``--password-stdin``); ``list``, ``disable`` and ``set-password`` do what they say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

import psycopg

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    """A request the accounts refuse, in words an admin acts on."""


@dataclass(frozen=True)
class Account:
    username: str
    unit_code: str


@lru_cache(maxsize=1)
def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher().hash("not a password of anyone's")


def _checked_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    return password


def add_account(conn: psycopg.Connection, username: str, unit_code: str, password: str, *, created_by: str,
                at: datetime) -> Account:
    from halfsky.contract.reference.code_lists import reference_data

    if not USERNAME.match(username):
        raise AccountError(f"{username!r}: a user name is 2 to 63 of a-z 0-9 . _ -, starting with a letter or digit")
    if unit_code not in reference_data().units:
        raise AccountError(f"{unit_code!r} is not a reporting unit of codes/reporting_units.csv")
    hashed = _hasher().hash(_checked_password(password))
    try:
        conn.execute("insert into portal.accounts (username, unit_code, password_hash, created_at, created_by) "
                     "values (%s, %s, %s, %s, %s)", (username, unit_code, hashed, at, created_by))
    except psycopg.errors.UniqueViolation:
        raise AccountError(f"{username} exists already (set-password changes its password)") from None
    return Account(username, unit_code)


def set_password(conn: psycopg.Connection, username: str, password: str) -> None:
    hashed = _hasher().hash(_checked_password(password))
    if conn.execute("update portal.accounts set password_hash = %s where username = %s",
                    (hashed, username)).rowcount != 1:
        raise AccountError(f"no account {username}")


def disable(conn: psycopg.Connection, username: str, at: datetime) -> None:
    if conn.execute("update portal.accounts set disabled_at = %s where username = %s and disabled_at is null",
                    (at, username)).rowcount != 1:
        raise AccountError(f"no enabled account {username}")


def authenticate(conn: psycopg.Connection, username: str, password: str, at: datetime) -> Account | None:
    """The account if the name and password match an enabled account, else None (in the same time either way)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    row = conn.execute("select unit_code, password_hash from portal.accounts where username = %s and disabled_at is null",
                       (username,)).fetchone()
    stored = row[1] if row else _dummy_hash()
    try:
        _hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _hasher().check_needs_rehash(stored):
        conn.execute("update portal.accounts set password_hash = %s where username = %s",
                     (_hasher().hash(password), username))
    conn.execute("update portal.accounts set last_login_at = %s where username = %s", (at, username))
    return Account(username, row[0].strip())


def accounts(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute("select username, unit_code, created_at, created_by, disabled_at, last_login_at "
                        "from portal.accounts order by unit_code, username").fetchall()


def main(argv: list[str] | None = None) -> int:
    import argparse
    import getpass
    import os
    import sys

    from halfsky.config.settings import warehouse_dsn
    from halfsky.warehouse.schema import ensure_schema

    p = argparse.ArgumentParser(prog="python -m halfsky.portal.accounts",
                                description="accounts of the upload page (the warehouse: AIRFLOW_CONN_WAREHOUSE_DB)")
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="a new account for a reporting unit")
    add.add_argument("username")
    add.add_argument("--unit", required=True, help="the reporting unit's 6-digit code, e.g. 654000")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
    reset = sub.add_parser("set-password", help="a new password for an account")
    reset.add_argument("username")
    reset.add_argument("--password-stdin", action="store_true")
    off = sub.add_parser("disable", help="the account can no longer log in (its uploads stay in the audit)")
    off.add_argument("username")
    sub.add_parser("list", help="every account, its unit and its last login")
    args = p.parse_args(argv)

    def password() -> str:
        if args.password_stdin:
            return sys.stdin.readline().rstrip("\n")
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            p.error("the two passwords differ")
        return first

    now = datetime.now(timezone.utc)  # when an admin acts: the audit's time, not a run's data interval
    admin = os.environ.get("USER") or "admin"
    ensure_schema()
    try:
        with psycopg.connect(warehouse_dsn()) as conn:
            if args.command == "add":
                add_account(conn, args.username, args.unit, password(), created_by=admin, at=now)
                print(f"added {args.username} for {args.unit}")
            elif args.command == "set-password":
                set_password(conn, args.username, password())
                print(f"new password for {args.username}")
            elif args.command == "disable":
                disable(conn, args.username, now)
                print(f"disabled {args.username}")
            else:
                for row in accounts(conn):
                    print("  ".join("-" if v is None else str(v) for v in row))
    except AccountError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
