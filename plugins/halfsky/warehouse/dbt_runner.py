"""Run dbt against the warehouse as a subprocess, with credentials passed through the environment.

profiles.yml reads only env_var(); this module turns the warehouse DSN into
those variables, so no secret is written to disk. dbt's own output is streamed
into the task log line by line.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from halfsky.config.settings import warehouse_dsn
from halfsky.warehouse.roles import TRANSFORMER, with_role_option

log = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"


class DbtFailed(RuntimeError):
    pass


def profile_env(dsn: str) -> dict[str, str]:
    parts = urlsplit(dsn)
    return {
        "HALFSKY_DB_HOST": parts.hostname or "127.0.0.1",
        "HALFSKY_DB_PORT": str(parts.port or 5432),
        "HALFSKY_DB_USER": unquote(parts.username or os.environ.get("PGUSER", "postgres")),
        "HALFSKY_DB_PASSWORD": unquote(parts.password or ""),
        "HALFSKY_DB_NAME": parts.path.lstrip("/") or "postgres",
    }


def work_dir_path(dbname: str) -> Path:
    """Where dbt's target/ and logs/ of warehouse database ``dbname`` live (made by the first run on it)."""
    return Path(os.environ.get("HALFSKY_HOME", PROJECT_DIR.parent / ".halfsky")) / "dbt" / dbname


def _work_dir(dbname: str) -> Path:
    """target/ and logs/ per warehouse database, so parallel builds never share files.

    The owner's only (0700, and dbt runs with umask 077): dbt's debug log holds every statement it ran,
    and target/ the compiled SQL, the run results and the partial-parse state."""
    base = work_dir_path(dbname)
    for folder in (base.parent, base):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if folder.stat().st_mode & 0o077:
            folder.chmod(0o700)  # mkdir's mode is masked by the umask, and an older halfsky made them 0755
    return base


def person_key_options(key: bytes) -> dict[str, str]:
    """Hand the person key to Postgres as a session setting, outside any SQL text or log.

    libpq reads PGOPTIONS at connect time; SQL reads current_setting('halfsky.person_key').
    The key is hex-encoded so no character of it can break the option syntax.
    """
    return {"PGOPTIONS": f"-c halfsky.person_key={key.hex()}"}


# What night_env sets; run_dbt passes them only from it, never from its own environment (an admin's shell).
NIGHT_ENV = ("HALFSKY_AS_OF_DATE", "HALFSKY_FULL_CHECKS")


def night_env(as_of: datetime | date | None, full_checks: bool = True) -> dict[str, str]:
    """What a build is for, as the environment dbt reads it with ``env_var()``: the Shanghai date the
    completeness report judges lateness at, and whether the data tests check every row.

    Not ``--vars``: dbt reparses the whole project whenever a var changes, and the as-of changes every night;
    an environment variable makes it reparse only the two reports that read it (and ``full_checks`` is read
    only when a test runs), so each night keeps the partial-parse state of the one before."""
    from halfsky.contract.periods import SHANGHAI

    env = {NIGHT_ENV[1]: "true" if full_checks else "false"}
    if as_of is not None:
        day = as_of.astimezone(SHANGHAI).date() if isinstance(as_of, datetime) else as_of
        env[NIGHT_ENV[0]] = day.isoformat()
    return env


def run_dbt(args: list[str], *, dsn: str | None = None, extra_env: dict[str, str] | None = None) -> list[str]:
    """Run ``dbt <args>``; return its output lines, raise DbtFailed with the tail if it fails."""
    env_db = profile_env(dsn or warehouse_dsn())
    work = _work_dir(env_db["HALFSKY_DB_NAME"])
    argv = [str(Path(sys.executable).with_name("dbt")), *args,
            "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
            "--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    inherited = {name: value for name, value in os.environ.items() if name not in NIGHT_ENV}
    env = {**inherited, **env_db, **(extra_env or {}),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "False", "DO_NOT_TRACK": "1", "DBT_USE_COLORS": "False"}
    # dbt builds as the transformer role: it may read raw, never write it (halfsky.warehouse.roles).
    env["PGOPTIONS"] = with_role_option(dsn or warehouse_dsn(), TRANSFORMER, env.get("PGOPTIONS", ""))
    log.info("dbt %s", " ".join(args))
    lines: list[str] = []
    with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=PROJECT_DIR,
                          umask=0o077) as proc:  # its logs and target/ files: the owner's only
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            lines.append(line)
            log.info("dbt | %s", line)
    if proc.returncode != 0:
        tail = "\n".join(lines[-40:])
        raise DbtFailed(f"dbt {' '.join(args)} failed (exit {proc.returncode}):\n{tail}")
    return lines
