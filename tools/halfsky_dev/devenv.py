"""Prepare a machine to run halfsky: Postgres, databases, Airflow home, env file.

``python -m halfsky_dev.devenv`` is what ``make demo`` and ``make test`` call after
the virtualenv exists. It is idempotent: a second run reuses the server, the
databases and the secrets it made the first time, and rewrites
``.halfsky/env.sh``, which the Makefile sources before every command.

Each checkout (each HALFSKY_HOME) has its own databases on the server it finds,
``halfsky_<8 hex of the resolved HALFSKY_HOME>`` and ``halfsky_airflow_<same>``:
two clones on one machine never share, or rebuild, a warehouse. The name is
printed on every run and is the path of AIRFLOW_CONN_WAREHOUSE_DB in env.sh.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shlex
import subprocess
import sys
from pathlib import Path

from halfsky.warehouse.dbt_runner import profile_env
from halfsky.config import airflow_runtime
from halfsky.config.dsn import normalise_dsn, redact
from halfsky.config.private_files import secret, write_private
from halfsky_dev.local_postgres import NoPostgresAvailable, ensure_database, ensure_server

REPO_ROOT = Path(__file__).resolve().parents[2]
# What halfsky before issue 22 called every checkout's databases: one pair for all of them on a shared server.
LEGACY_WAREHOUSE_DB = "halfsky"

# Government data on closed networks: nothing phones home, ever.
TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",
    "SCARF_ANALYTICS": "false",
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "GX_ANALYTICS_ENABLED": "False",
}


def state_dir() -> Path:
    return Path(os.environ.get("HALFSKY_HOME", REPO_ROOT / ".halfsky")).resolve()


def checkout_tag(home: Path | None = None) -> str:
    """8 hex digits of the resolved HALFSKY_HOME: the same for every run of one checkout, another for the next.
    Two clones (or two HALFSKY_HOMEs) on one server must never share, and so rebuild, one another's databases."""
    return hashlib.sha256(str((home or state_dir()).resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:8]


def warehouse_db_name(home: Path | None = None) -> str:
    """This checkout's warehouse database, e.g. halfsky_3f2a9c01: the same rule on a shared server and on a
    cluster of its own (a checkout uses the machine's server whenever one answers, its own cluster otherwise)."""
    return f"halfsky_{checkout_tag(home)}"


def airflow_db_name(home: Path | None = None) -> str:
    """This checkout's Airflow metadata database, e.g. halfsky_airflow_3f2a9c01."""
    return f"halfsky_airflow_{checkout_tag(home)}"


def private_dir(path: Path) -> Path:
    """Make ``path`` (and missing parents) and take group and others' access away from it. Others keep only
    the search bit, and only where a local cluster lives inside (local_postgres, run as root, lets the
    cluster's own account walk down to its pgdata; names there cannot be listed, only followed)."""
    path.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode
    wanted = (mode & 0o7700) | (mode & 0o001 if (path / "pgdata").exists() else 0)
    if wanted != mode & 0o7777:
        path.chmod(wanted)
    return path


def airflow_env(home: Path, metadata_url: str) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        # halfsky is an installed package, not an Airflow plugin: Airflow's plugin loader would
        # import every module under plugins/ (and run __main__.py files as __main__).
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # Task logs name drops, units and verdicts: readable by the account that runs Airflow only
        # (Airflow's defaults, 0o664 and 0o775, are for impersonation, which halfsky does not use).
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS": "0o600",
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS": "0o700",
        # Cosmos' partial-parse and profile cache, in this Airflow home rather than a fixed /tmp/cosmos that
        # any account on the machine could create first (and plant a profiles.yml pointing dbt, and the
        # warehouse password, at its own server) and that every Airflow home on the machine would share.
        "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos"),
        **airflow_runtime.DBT_TASKS,
    }


def build_env(metadata: str) -> dict[str, str]:
    home = private_dir(state_dir())  # secrets, the sample landing zone, quarantine, logs: the owner's only
    server = ensure_server(home)
    print(f"halfsky: PostgreSQL ({server.how}) at {redact(server.admin_dsn)}", file=sys.stderr)
    if server.how == "explicit":
        warehouse = server.admin_dsn
    else:
        _hint_at_legacy_database(server.admin_dsn, warehouse_db_name(home))
        warehouse = ensure_database(server.admin_dsn, warehouse_db_name(home))
        print(f"halfsky: this checkout's warehouse is the database {warehouse_db_name(home)} "
              f"(named after HALFSKY_HOME {home}; AIRFLOW_CONN_WAREHOUSE_DB in {home / 'env.sh'})", file=sys.stderr)
    if metadata == "postgres" and server.how != "explicit":
        # psycopg2, Airflow's default driver: under psycopg 3 the UI's asset graph query fails (jsonb #> varchar).
        metadata_url = (ensure_database(server.admin_dsn, airflow_db_name(home))
                        .replace("postgresql://", "postgresql+psycopg2://", 1))
    else:
        metadata_url = f"sqlite:///{home / 'airflow' / 'airflow.db'}"
    env = {
        "HALFSKY_HOME": str(home),
        "HALFSKY_ADMIN_DSN": server.admin_dsn,
        "AIRFLOW_CONN_WAREHOUSE_DB": warehouse,
        "AIRFLOW_VAR_LANDING_URL": str(home / "landing"),
        "AIRFLOW_VAR_QUARANTINE_URL": str(home / "quarantine"),
        "HALFSKY_PERSON_HMAC_KEY": secret(home / "person_hmac_key"),
        # BI tools log in as halfsky_analyst with it (halfsky.warehouse.analyst_role); a real site sets its own.
        "HALFSKY_ANALYST_PASSWORD": secret(home / "analyst_password"),
        **airflow_env(home / "airflow", metadata_url),
        **TELEMETRY_OFF,
    }
    # What the user exported wins over what we found.
    for key in ("AIRFLOW_VAR_LANDING_URL", "AIRFLOW_VAR_QUARANTINE_URL", "HALFSKY_PERSON_HMAC_KEY",
                "HALFSKY_ANALYST_PASSWORD"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    # dbt_project/profiles.yml reads HALFSKY_DB_*: set them too, so plain `dbt` (docs, debug) works after sourcing.
    env.update(profile_env(normalise_dsn(env["AIRFLOW_CONN_WAREHOUSE_DB"])))
    return env


def _hint_at_legacy_database(admin_dsn: str, warehouse_db: str) -> None:
    """Once, when this checkout's own warehouse is first made beside a database an older halfsky shared between
    every checkout: say that it is left alone (the new one starts empty; ``make demo`` fills it)."""
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        names = {r[0] for r in conn.execute("select datname from pg_database where datname = any(%s)",
                                            ([LEGACY_WAREHOUSE_DB, warehouse_db],))}
    if LEGACY_WAREHOUSE_DB in names and warehouse_db not in names:
        print(f"halfsky: each checkout now has its own warehouse ({warehouse_db}, new and empty: make demo fills it); "
              f"the database {LEGACY_WAREHOUSE_DB} and {LEGACY_WAREHOUSE_DB}_airflow that every checkout shared before "
              "are left as they were: drop them (dropdb) once no checkout of an older halfsky uses them", file=sys.stderr)


def write_env_file(env: dict[str, str], path: Path) -> None:
    lines = ["# written by python -m halfsky_dev.devenv; source it, do not edit or commit it"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items())]
    write_private(path, "\n".join(lines) + "\n")  # it holds the person key and the analyst password


def migrate_airflow(env: dict[str, str]) -> None:
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run([str(airflow), "db", "migrate"], env={**os.environ, **env}, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def build_dbt_manifest(env: dict[str, str]) -> None:
    """The manifest build_marts is rendered from (Cosmos LoadMode.DBT_MANIFEST); rebuilt only when the project changed."""
    result = subprocess.run([sys.executable, "-c", "from halfsky.orchestration.dbt_manifest import ensure_manifest; print(ensure_manifest())"],
                            env={**os.environ, **env}, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"building the dbt manifest failed:\n{result.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m halfsky_dev.devenv", description=__doc__.splitlines()[0])
    parser.add_argument("--metadata", choices=["postgres", "sqlite"], default="postgres",
                        help="where Airflow keeps its metadata (default: a database beside the warehouse)")
    parser.add_argument("--no-migrate", action="store_true", help="skip 'airflow db migrate'")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="halfsky: %(message)s")
    try:
        env = build_env(args.metadata)
    except NoPostgresAvailable as exc:
        print(f"halfsky: cannot get a PostgreSQL server.\n{exc}", file=sys.stderr)
        return 2
    env_file = state_dir() / "env.sh"
    write_env_file(env, env_file)
    if not args.no_migrate:
        migrate_airflow(env)
    build_dbt_manifest(env)
    print(f"halfsky: environment written to {env_file}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
