"""Prepare a machine to run halfsky: Postgres, databases, Airflow home, env file.

``python -m halfsky.devenv`` is what ``make demo`` and ``make test`` call after
the virtualenv exists. It is idempotent: a second run reuses the server, the
databases and the secrets it made the first time, and rewrites
``.halfsky/env.sh``, which the Makefile sources before every command.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

from halfsky.dbt_runner import profile_env
from halfsky.local_postgres import NoPostgresAvailable, ensure_database, ensure_server, normalise_dsn, redact

REPO_ROOT = Path(__file__).resolve().parents[2]
WAREHOUSE_DB = "halfsky"
AIRFLOW_DB = "halfsky_airflow"

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


def _dev_secret(path: Path) -> str:
    """A per-checkout random key, so no key ever sits in the repo."""
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


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
    }


def build_env(metadata: str) -> dict[str, str]:
    home = state_dir()
    home.mkdir(parents=True, exist_ok=True)
    server = ensure_server(home)
    print(f"halfsky: PostgreSQL ({server.how}) at {redact(server.admin_dsn)}", file=sys.stderr)
    if server.how == "explicit":
        warehouse = server.admin_dsn
    else:
        warehouse = ensure_database(server.admin_dsn, WAREHOUSE_DB)
    if metadata == "postgres" and server.how != "explicit":
        # psycopg2, Airflow's default driver: under psycopg 3 the UI's asset graph query fails (jsonb #> varchar).
        metadata_url = ensure_database(server.admin_dsn, AIRFLOW_DB).replace("postgresql://", "postgresql+psycopg2://", 1)
    else:
        metadata_url = f"sqlite:///{home / 'airflow' / 'airflow.db'}"
    env = {
        "HALFSKY_HOME": str(home),
        "HALFSKY_ADMIN_DSN": server.admin_dsn,
        "AIRFLOW_CONN_WAREHOUSE_DB": warehouse,
        "AIRFLOW_VAR_LANDING_URL": str(home / "landing"),
        "AIRFLOW_VAR_QUARANTINE_URL": str(home / "quarantine"),
        "HALFSKY_PERSON_HMAC_KEY": _dev_secret(home / "person_hmac_key"),
        # BI tools log in as halfsky_analyst with it (halfsky.analyst_role); a real site sets its own.
        "HALFSKY_ANALYST_PASSWORD": _dev_secret(home / "analyst_password"),
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


def write_env_file(env: dict[str, str], path: Path) -> None:
    lines = ["# written by python -m halfsky.devenv; source it, do not edit or commit it"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items())]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def migrate_airflow(env: dict[str, str]) -> None:
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run([str(airflow), "db", "migrate"], env={**os.environ, **env}, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def build_dbt_manifest(env: dict[str, str]) -> None:
    """The manifest build_marts is rendered from (Cosmos LoadMode.DBT_MANIFEST); rebuilt only when the project changed."""
    result = subprocess.run([sys.executable, "-c", "from halfsky.dbt_manifest import ensure_manifest; print(ensure_manifest())"],
                            env={**os.environ, **env}, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"building the dbt manifest failed:\n{result.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m halfsky.devenv", description=__doc__.splitlines()[0])
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
