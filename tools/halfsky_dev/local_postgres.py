"""Find, or start, the PostgreSQL server the warehouse lives on.

A newcomer's machine may have a server running, only the server binaries, or
nothing at all. We try, in order:

1. an explicit server: ``WAREHOUSE_DSN`` or ``AIRFLOW_CONN_WAREHOUSE_DB``;
2. a server that already answers (``PGHOST``/``PGPORT``, then 127.0.0.1:5432);
3. a project-local cluster made with the ``initdb``/``pg_ctl`` found on the machine;
4. the PostgreSQL embedded in the ``pgserver`` wheel.

Only the standard library and psycopg are used so this runs before Airflow is
configured.
"""

from __future__ import annotations

import getpass
import glob
import logging
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence
from urllib.parse import quote, urlsplit, urlunsplit

from halfsky.config.dsn import normalise_dsn, redact

log = logging.getLogger(__name__)

PORT_FILE = "halfsky_port"


class NoPostgresAvailable(RuntimeError):
    """No server could be reached or started; the message says what to install."""


@dataclass(frozen=True)
class PostgresServer:
    admin_dsn: str  # a superuser DSN on a maintenance database, for CREATE DATABASE
    how: str  # explicit | existing | local-cluster | pgserver
    data_dir: Path | None = None


def can_connect(dsn: str, timeout_s: int = 3) -> bool:
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=timeout_s, autocommit=True) as conn:
            conn.execute("select 1")
        return True
    except psycopg.Error as exc:
        log.debug("cannot connect to %s: %s", redact(dsn), exc)
        return False


def explicit_dsn(env: Mapping[str, str]) -> str | None:
    for name in ("WAREHOUSE_DSN", "AIRFLOW_CONN_WAREHOUSE_DB"):
        value = env.get(name, "").strip()
        if value:
            if value.startswith("{"):
                raise NoPostgresAvailable(
                    f"{name} is in Airflow's JSON form; give it as a URI "
                    "(postgresql://user:password@host:port/db) for the set-up script"
                )
            return normalise_dsn(value)
    return None


def candidate_dsns(env: Mapping[str, str]) -> list[str]:
    """Servers worth knocking on, most specific first."""
    hosts = []
    if env.get("PGHOST"):
        hosts.append((env["PGHOST"], env.get("PGPORT", "5432")))
    hosts.append(("127.0.0.1", env.get("PGPORT", "5432")))
    users = [u for u in (env.get("PGUSER"), "postgres", getpass.getuser()) if u]
    password = env.get("PGPASSWORD")
    dsns = []
    for host, port in hosts:
        for user in dict.fromkeys(users):
            auth = quote(user) + (":" + quote(password) if password else "")
            for db in ("postgres", "template1"):
                dsns.append(f"postgresql://{auth}@{quote(host, safe='/')}:{port}/{db}")
    return list(dict.fromkeys(dsns))


def find_pg_bin_dir(extra_dirs: Sequence[str] = ()) -> Path | None:
    """A directory holding both initdb and pg_ctl, newest Debian version first."""
    dirs = list(extra_dirs)
    initdb = shutil.which("initdb")
    if initdb:
        dirs.append(str(Path(initdb).parent))
    dirs += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    dirs += ["/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin"]
    for d in dirs:
        if (Path(d) / "initdb").is_file() and (Path(d) / "pg_ctl").is_file():
            return Path(d)
    return None


def _version_key(path: str) -> int:
    try:
        return int(Path(path).parent.name.split(".")[0])
    except ValueError:
        return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unprivileged_user() -> str | None:
    """initdb refuses to run as root: pick an account to run the cluster as."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise NoPostgresAvailable("running as root and no 'postgres' or 'nobody' account to run initdb as")


def _run_as(user: str | None, argv: list[str], log_file: Path | None = None) -> None:
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        detail = result.stderr.strip() or result.stdout.strip()
        if log_file and log_file.exists():
            detail += "\n" + log_file.read_text(errors="replace")[-2000:]
        raise NoPostgresAvailable(f"{' '.join(argv)} failed: {detail}")


def _make_reachable(path: Path, user: str | None) -> None:
    """Let the cluster's account walk down to and own its data directory."""
    if not user:
        return
    entry = pwd.getpwnam(user)
    for parent in reversed(path.parents):
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
    os.chown(path, entry.pw_uid, entry.pw_gid)


# Who may log in, and how. The pipeline's admin login (postgres) is trusted on loopback: it is the
# project's own cluster, listening nowhere else. Every other login (halfsky_analyst, for BI tools)
# must give its password, checked as SCRAM-SHA-256, as a server that others share would ask.
HBA_MARKER = "# written by halfsky_dev.local_postgres"
PG_HBA = f"""{HBA_MARKER}
local all all                  trust
host  all postgres 127.0.0.1/32 trust
host  all postgres ::1/128      trust
host  all all      127.0.0.1/32 scram-sha-256
host  all all      ::1/128      scram-sha-256
"""


def _write_pg_hba(data_dir: Path, user: str | None) -> bool:
    """pg_hba.conf as PG_HBA says; True if it changed (a running server must then reload it)."""
    path = data_dir / "pg_hba.conf"
    if path.exists() and path.read_text() == PG_HBA:
        return False
    path.write_text(PG_HBA)
    path.chmod(0o600)
    if user:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return True


def start_local_cluster(data_dir: Path, bin_dir: Path) -> str:
    """Start (creating if needed) a cluster on 127.0.0.1 and return its admin DSN: the admin login is
    trusted on loopback, every other login needs its password (PG_HBA)."""
    user = _unprivileged_user()
    data_dir.mkdir(parents=True, exist_ok=True)
    _make_reachable(data_dir, user)
    port_file = data_dir.parent / f"{data_dir.name}.{PORT_FILE}"
    if not (data_dir / "PG_VERSION").exists():
        log.info("creating a local PostgreSQL cluster in %s", data_dir)
        _run_as(
            user,
            [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres",
             "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"],
        )
    hba_changed = _write_pg_hba(data_dir, user)
    port = int(port_file.read_text()) if port_file.exists() else free_port()
    port_file.write_text(str(port))
    dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    if can_connect(dsn, timeout_s=1):
        if hba_changed:  # a cluster made by an older halfsky trusted every login
            import psycopg

            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("select pg_reload_conf()")
        return dsn
    server_log = data_dir / "server.log"
    # No unix socket: its path may exceed the 107-byte limit deep in a checkout.
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories=''"
    _run_as(
        user,
        [str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-l", str(server_log),
         "-o", options, "-w", "-t", "60", "start"],
        log_file=server_log,
    )
    return dsn


def stop_local_cluster(data_dir: Path, bin_dir: Path) -> None:
    _run_as(_unprivileged_user(), [str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"])


def start_pgserver(data_dir: Path) -> str:
    try:
        import pgserver
    except ImportError as exc:
        raise NoPostgresAvailable(
            "No PostgreSQL server answers, no initdb/pg_ctl was found, and the embedded "
            "server is not installed. Do one of: set WAREHOUSE_DSN=postgresql://user:pw@host:port/db; "
            "install PostgreSQL (apt-get install postgresql / brew install postgresql); or "
            "pip install -c constraints.txt 'halfsky[embedded-postgres]'."
        ) from exc
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode=None)  # keep running for later commands
    return normalise_dsn(server.get_uri("postgres"))


def ensure_server(
    state_dir: Path,
    env: Mapping[str, str] = os.environ,
    *,
    candidates: Sequence[str] | None = None,
    bin_dirs: Sequence[str] = (),
    allow_pgserver: bool = True,
) -> PostgresServer:
    """Return a server we can use, starting one under ``state_dir`` if we must."""
    dsn = explicit_dsn(env)
    if dsn:
        if not can_connect(dsn, timeout_s=10):
            raise NoPostgresAvailable(f"the warehouse given in the environment does not answer: {redact(dsn)}")
        return PostgresServer(dsn, "explicit")
    for dsn in candidate_dsns(env) if candidates is None else candidates:
        if can_connect(dsn):
            return PostgresServer(dsn, "existing")
    bin_dir = find_pg_bin_dir(bin_dirs)
    if bin_dir:
        data_dir = state_dir / "pgdata"
        return PostgresServer(start_local_cluster(data_dir, bin_dir), "local-cluster", data_dir)
    if allow_pgserver:
        data_dir = state_dir / "pgserver"
        return PostgresServer(start_pgserver(data_dir), "pgserver", data_dir)
    raise NoPostgresAvailable("no PostgreSQL server answers and no initdb/pg_ctl was found")


def database_dsn(admin_dsn: str, database: str) -> str:
    parts = urlsplit(admin_dsn)
    return urlunsplit(parts._replace(path="/" + database))


def ensure_database(admin_dsn: str, database: str) -> str:
    """Create ``database`` if missing and return a DSN for it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
    return database_dsn(admin_dsn, database)


def drop_database(admin_dsn: str, database: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database)))
