"""Airflow's UI and services (and dbt docs) on this machine, in the background.

``make up`` / ``make down`` / ``make docs`` call this with the environment of
``.halfsky/env.sh``::

    python -m halfsky_dev.services up [--port 8080]   # api-server, scheduler, dag-processor, triggerer,
                                                      # and the upload page (halfsky.portal.app) on 8082
    python -m halfsky_dev.services up --executor celery [--workers 2]   # the same, plus Celery workers
    python -m halfsky_dev.services status
    python -m halfsky_dev.services docs [--port 8081] # dbt docs generate, then serve
    python -m halfsky_dev.services down               # stops what up and docs started, nothing else

With ``--executor celery`` the scheduler hands tasks to a Redis broker (AIRFLOW__CELERY__BROKER_URL, default
redis://127.0.0.1:6379/0) and ``--workers`` Celery workers on this machine take them, each named
``worker-N@<host>`` in Celery and in every task instance it runs (halfsky.orchestration.worker_identity). Workers on other
machines join with the same settings: ``airflow celery worker --queues <the queue>`` (docs/celery.md).

Everything listens on 127.0.0.1 only (the scheduler and triggerer do not start
Airflow's log server, which would listen on every interface: the api-server
reads task logs from the shared AIRFLOW_HOME). State lives in
``<HALFSKY_HOME>/services``: one ``<name>.pid`` and ``<name>.log`` per process
(halfsky_dev.processes), and, each made once and kept ``0600``, the api/JWT
secrets all four services share and the simple auth manager's password file.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from halfsky.config import airflow_runtime
from halfsky.config.private_files import made_once, secret
from halfsky_dev.devenv import TELEMETRY_OFF, state_dir
from halfsky_dev.processes import HOST, ProcessError, Processes, port_taken, tail

DEFAULT_PORT = 8080
DEFAULT_DOCS_PORT = 8081
TIMEZONE = airflow_runtime.TIMEZONE
ADMIN_USER = "admin"
AIRFLOW_SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
WORKER_PREFIX = "celery-worker-"
DOCS = "dbt-docs"
UPLOAD_PAGE = "upload-page"  # halfsky.portal.app, the prefecture staff's front door
DEFAULT_UPLOAD_PORT = 8082
BIN = Path(sys.executable).parent


class ServiceError(ProcessError):
    pass


def services_dir() -> Path:
    path = state_dir() / "services"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def password_file() -> Path:
    return services_dir() / "simple_auth_manager_passwords.json"


def admin_password() -> str:
    """The admin's password, from the simple auth manager's own file (made here first, so it is known)."""
    path = password_file()
    return json.loads(made_once(path, lambda: json.dumps({ADMIN_USER: secrets.token_urlsafe(12)}) + "\n"))[ADMIN_USER]


# Every service's pid and log files are in services_dir(); the workers a scheduler or Celery forks, and dbt's,
# go with it.
def processes() -> Processes:
    return Processes(services_dir(), marks=("airflow", "dbt", "celeryd", "halfsky.portal.app"))


def celery_queue() -> str:
    """This checkout's own queue: two checkouts (or a test) sharing one Redis never run each other's tasks."""
    digest = hashlib.sha256(str(state_dir()).encode()).hexdigest()[:10]
    return f"halfsky-{digest}"


def service_env(port: int, executor: str = "local") -> dict[str, str]:
    """os.environ (from env.sh) plus what the services (and workers) must agree on."""
    folder = services_dir()
    env = {**os.environ, **TELEMETRY_OFF}
    env.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", f"{ADMIN_USER}:admin")
    # What every deployment shares (halfsky.config.airflow_runtime, which says why); one exported wins.
    for key, value in airflow_runtime.make_up(celery=executor == "celery").items():
        env.setdefault(key, value)
    env["AIRFLOW__CORE__EXECUTOR"] = EXECUTORS[executor]
    if executor == "celery":
        # Results go to the metadata database (Celery's db+ backend, Airflow's default); only the broker is Redis.
        env.setdefault("AIRFLOW__CELERY__BROKER_URL", DEFAULT_BROKER_URL)
        env.setdefault("AIRFLOW__OPERATORS__DEFAULT_QUEUE", celery_queue())
    env.update({
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://{HOST}:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{HOST}:{port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file()),
        # One secret for the api-server's sessions and one for the JWTs every service signs or checks.
        "AIRFLOW__API__SECRET_KEY": secret(folder / "api_secret_key", 32),
        # JWTs are signed with HMAC-SHA512, which wants a key of at least 64 bytes.
        "AIRFLOW__API_AUTH__JWT_SECRET": secret(folder / "jwt_secret", 64),
    })
    return env


def worker_names(count: int) -> list[str]:
    return [f"{WORKER_PREFIX}{n}" for n in range(1, count + 1)]


def worker_label(name: str) -> str:
    """celery-worker-1 (its pid and log files) is worker-1 in Celery and in the grid."""
    return f"worker-{name.removeprefix(WORKER_PREFIX)}"


def worker_argv(name: str, env: dict[str, str], concurrency: int) -> list[str]:
    """A Celery worker on this checkout's queue. No log server (it would take port 8793 once per worker): the
    api-server reads task logs from the shared AIRFLOW_HOME, as with the scheduler's."""
    return [str(BIN / "airflow"), "celery", "worker", "--celery-hostname", f"{worker_label(name)}@%h",
            "--queues", env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"], "--concurrency", str(concurrency),
            "--skip-serve-logs", "--without-gossip", "--without-mingle"]


def _argv(name: str, port: int) -> list[str]:
    airflow = str(BIN / "airflow")
    return {
        "api-server": [airflow, "api-server", "--host", HOST, "--port", str(port)],
        "scheduler": [airflow, "scheduler", "--skip-serve-logs"],
        "dag-processor": [airflow, "dag-processor"],
        "triggerer": [airflow, "triggerer", "--skip-serve-logs"],
    }[name]


def _get_json(url: str, timeout: float = 5.0, token: str | None = None) -> dict | None:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def login(base_url: str, username: str, password: str, timeout: float = 10.0) -> str:
    """A JWT from the simple auth manager, as the UI's login form gets one."""
    body = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(f"{base_url}/auth/token", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())["access_token"]


# --- commands ------------------------------------------------------------------------------------

def _write_dbt_manifest(env: dict[str, str]) -> None:
    """nightly_load renders its dbt tasks from a manifest; write it first when halfsky can."""
    if importlib.util.find_spec("halfsky.orchestration.dbt_manifest") is None:
        return
    from halfsky.orchestration import dbt_manifest
    is_stale = getattr(dbt_manifest, "is_stale", None)
    if is_stale is not None and not is_stale():
        return  # newer than every file of the dbt project: a second `make up` need not rewrite it
    log = processes().log_file("dbt-manifest")
    with open(log, "wb") as fh:
        result = subprocess.run([sys.executable, "-m", "halfsky.orchestration.dbt_manifest"], env=env, stdout=fh,
                                stderr=subprocess.STDOUT)
    if result.returncode != 0:
        print(f"halfsky: WARNING python -m halfsky.orchestration.dbt_manifest failed (exit {result.returncode}); "
              f"nightly_load may not load. See {log}:\n{tail(log, 15)}", file=sys.stderr)


def started_workers() -> list[str]:
    """The Celery workers ``up`` started here (their pid files), running or not."""
    return sorted(path.stem for path in services_dir().glob(f"{WORKER_PREFIX}*.pid"))


def up(port: int, timeout: float, manifest: bool = True, executor: str = "local", workers: int = 2,
       upload_port: int = DEFAULT_UPLOAD_PORT) -> int:
    base_url = f"http://{HOST}:{port}"
    procs = processes()
    with procs.lock():
        already = {name: pid for name in AIRFLOW_SERVICES if (pid := procs.running(name))}
        state = services_dir() / "api-server.port"
        if "api-server" in already and state.exists() and int(state.read_text()) != port:
            raise ServiceError(f"the api-server already runs on port {state.read_text().strip()}: "
                               "`make down` first to move it")
        executor_file = services_dir() / "executor"
        if already and executor_file.exists() and executor_file.read_text().strip() != executor:
            raise ServiceError(f"the services already run with the {executor_file.read_text().strip()} executor: "
                               f"`make down` first to switch to {executor}")
        if "api-server" not in already and port_taken(port):
            raise ServiceError(f"{HOST}:{port} is taken by another program; pick another port: "
                               f"make up AIRFLOW_PORT={port + 10}")
        env = service_env(port, executor)
        password = admin_password()
        if manifest:
            _write_dbt_manifest(env)
        names = list(AIRFLOW_SERVICES)
        argv = {name: _argv(name, port) for name in AIRFLOW_SERVICES}
        envs = {name: env for name in AIRFLOW_SERVICES}
        if executor == "celery":
            _check_broker(env["AIRFLOW__CELERY__BROKER_URL"])
            # [core] parallelism caps what the scheduler sends; the workers share it out.
            concurrency = max(1, int(env["AIRFLOW__CORE__PARALLELISM"]) // max(1, workers))
            for name in worker_names(workers):
                names.append(name)
                envs[name] = {**env, "HALFSKY_WORKER_NAME": worker_label(name)}
                argv[name] = worker_argv(name, env, concurrency)
        if not procs.running(UPLOAD_PAGE) and port_taken(upload_port):
            raise ServiceError(f"{HOST}:{upload_port} is taken by another program; pick another port for the upload "
                               f"page: make up UPLOAD_PORT={upload_port + 10}")
        names.append(UPLOAD_PAGE)
        envs[UPLOAD_PAGE] = env
        argv[UPLOAD_PAGE] = [sys.executable, "-m", "halfsky.portal.app", "--host", HOST, "--port", str(upload_port)]
        started = []
        for name in names:
            if pid := procs.running(name):
                print(f"halfsky: {name} already running (pid {pid})", file=sys.stderr)
                continue
            if procs.stop(name):  # its leader died, but some of its processes did not
                print(f"halfsky: stopped what was left of an earlier {name}", file=sys.stderr)
            pid = procs.start(name, argv[name], envs[name])
            started.append(name)
            print(f"halfsky: started {name} (pid {pid}), log {procs.log_file(name)}", file=sys.stderr)
        executor_file.write_text(f"{executor}\n")
        if "api-server" in started:
            state.write_text(f"{port}\n")
        try:
            health = _wait_healthy(procs, base_url, timeout, names)
            procs.wait([UPLOAD_PAGE], lambda: _get_json(f"http://{HOST}:{upload_port}/healthz", timeout=3), timeout,
                       "the upload page's /healthz")
            if executor == "celery":
                _wait_workers(procs, env, [n for n in names if n.startswith(WORKER_PREFIX)], timeout)
        except ProcessError:
            procs.stop(*started)
            raise
    for component in ("scheduler", "triggerer", "dag_processor"):
        status = (health.get(component) or {}).get("status")
        if status != "healthy":
            print(f"halfsky: {component}: {status or 'starting'} (see `python -m halfsky_dev.services status`)",
                  file=sys.stderr)
    workers_line = ""
    if executor == "celery":
        workers_line = (f"\nExecutor:    CeleryExecutor, broker {_redacted(env['AIRFLOW__CELERY__BROKER_URL'])}, "
                        f"queue {env['AIRFLOW__OPERATORS__DEFAULT_QUEUE']}, {workers} workers "
                        f"({', '.join(map(worker_label, worker_names(workers)))})")
    print(f"""
Airflow UI:  {base_url}
Upload page: http://{HOST}:{upload_port}  (prefecture staff; an account per unit:
             .venv/bin/python -m halfsky.portal.accounts add <name> --unit <code>)
Log in as:   {ADMIN_USER} / {password}
             (kept in {password_file()}; other users of
             AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS get theirs in that file too)
Time zone:   the server reads dates in {TIMEZONE}; the UI shows the browser's zone
             (choose {TIMEZONE} under User > Timezone if your browser is elsewhere){workers_line}
Logs:        {services_dir()}/*.log
Stop:        make down""")
    return 0


def _redacted(url: str) -> str:
    """A broker URL without its password, for printing."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def _check_broker(url: str, timeout: float = 3.0) -> None:
    """Fail before starting anything when the broker does not answer: the workers would retry for ever."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or {"redis": 6379, "rediss": 6379, "amqp": 5672}.get(parts.scheme, 6379)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise ServiceError(f"the Celery broker {_redacted(url)} does not answer ({exc}): start Redis "
                           "(redis-server) or set AIRFLOW__CELERY__BROKER_URL") from exc


def _wait_workers(procs: Processes, env: dict[str, str], names: list[str], timeout: float) -> None:
    """Until every worker answers a Celery ping (it has connected to the broker and consumes the queue)."""
    def all_answer() -> bool:
        result = subprocess.run([str(BIN / "celery"), "--app", "airflow.providers.celery.executors.celery_executor_utils.app",
                                 "inspect", "ping", "--timeout", "2", "--json"],
                                env=env, capture_output=True, text=True)
        try:
            answered = {key.split("@", 1)[0] for key in json.loads(result.stdout or "{}")}
        except ValueError:
            answered = set()
        return set(map(worker_label, names)) <= answered

    procs.wait(names, all_answer, timeout, "Celery workers' ping")


def _wait_healthy(procs: Processes, base_url: str, timeout: float, names: list[str]) -> dict:
    """Until the api-server answers /api/v2/monitor/health; fail early if a service exits."""
    deadline = time.monotonic() + timeout
    url = f"{base_url}/api/v2/monitor/health"
    health = procs.wait(names, lambda: _get_json(url, timeout=3), timeout, f"the api-server's {url}")
    # The other three report through the metadata database: give them a moment to show up.
    end = min(deadline, time.monotonic() + 30)
    while time.monotonic() < end and any(
            (health.get(c) or {}).get("status") != "healthy" for c in ("scheduler", "triggerer", "dag_processor")):
        time.sleep(2)
        health = _get_json(url, timeout=3) or health
    return health


def down() -> int:
    procs = processes()
    with procs.lock():
        stopped = procs.stop(DOCS, UPLOAD_PAGE, *AIRFLOW_SERVICES, *started_workers())
        (services_dir() / "api-server.port").unlink(missing_ok=True)
        (services_dir() / "executor").unlink(missing_ok=True)
    print(f"halfsky: stopped {', '.join(stopped)}" if stopped else "halfsky: nothing was running", file=sys.stderr)
    return 0


def status() -> int:
    procs = processes()
    for name in (*AIRFLOW_SERVICES, UPLOAD_PAGE, *started_workers(), DOCS):
        pid = procs.running(name)
        print(f"{name:16} {'running, pid ' + str(pid) if pid else 'stopped'}")
    port_file = services_dir() / "api-server.port"
    if procs.running("api-server") and port_file.exists():
        port = int(port_file.read_text())
        health = _get_json(f"http://{HOST}:{port}/api/v2/monitor/health")
        print(f"http://{HOST}:{port}  health: {json.dumps(health) if health else 'no answer'}")
    return 0


def docs(port: int, timeout: float = 60.0) -> int:
    """dbt docs generate against the warehouse, then dbt docs serve on 127.0.0.1 in the background."""
    from halfsky.warehouse.dbt_runner import PROJECT_DIR, profile_env
    from halfsky.config.settings import warehouse_dsn

    work = state_dir() / "dbt" / "docs"
    paths = ["--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
             "--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    env = {**os.environ, **TELEMETRY_OFF, **profile_env(warehouse_dsn()), "DBT_USE_COLORS": "False"}
    dbt = str(BIN / "dbt")
    print("halfsky: dbt docs generate (the catalogue reads the warehouse's tables)", file=sys.stderr)
    result = subprocess.run([dbt, "docs", "generate", *paths], env=env, cwd=PROJECT_DIR)
    if result.returncode != 0:
        raise ServiceError(f"dbt docs generate failed (exit {result.returncode})")
    url = f"http://{HOST}:{port}"
    procs = processes()
    with procs.lock():
        pid = procs.running(DOCS)
        if pid is not None:
            print(f"halfsky: dbt docs server already running (pid {pid}); it serves the new catalogue", file=sys.stderr)
            port = int((services_dir() / f"{DOCS}.port").read_text())
            url = f"http://{HOST}:{port}"
        else:
            if port_taken(port):
                raise ServiceError(f"{HOST}:{port} is taken by another program; pick another port: "
                                   f"make docs DOCS_PORT={port + 10}")
            procs.stop(DOCS)
            pid = procs.start(DOCS, [dbt, "docs", "serve", "--host", HOST, "--port", str(port), "--no-browser",
                                     *paths], env, cwd=PROJECT_DIR)
            (services_dir() / f"{DOCS}.port").write_text(f"{port}\n")
            try:
                procs.wait_for_port(DOCS, port, timeout)
            except ProcessError:
                procs.stop(DOCS)
                raise
    print(f"\ndbt docs:  {url}   (log {procs.log_file(DOCS)}; stop with make down)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m halfsky_dev.services", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start the api-server, scheduler, dag-processor, triggerer and upload page")
    p_up.add_argument("--port", type=int, default=int(os.environ.get("HALFSKY_AIRFLOW_PORT", DEFAULT_PORT)))
    p_up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the api-server")
    p_up.add_argument("--no-manifest", action="store_true", help="do not write the dbt manifest first")
    p_up.add_argument("--executor", choices=sorted(EXECUTORS), default=os.environ.get("HALFSKY_EXECUTOR", "local"),
                      help="local (LocalExecutor, default) or celery (CeleryExecutor, Redis broker, local workers)")
    p_up.add_argument("--workers", type=int, default=2, help="Celery workers to start on this machine (default 2)")
    p_up.add_argument("--upload-port", type=int, default=int(os.environ.get("HALFSKY_UPLOAD_PORT", DEFAULT_UPLOAD_PORT)),
                      help=f"the upload page's port (default {DEFAULT_UPLOAD_PORT})")
    sub.add_parser("down", help="stop everything up and docs started")
    sub.add_parser("status", help="which services run")
    p_docs = sub.add_parser("docs", help="dbt docs generate, then serve them on 127.0.0.1")
    p_docs.add_argument("--port", type=int, default=int(os.environ.get("HALFSKY_DOCS_PORT", DEFAULT_DOCS_PORT)))
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            return up(args.port, args.timeout, manifest=not args.no_manifest, executor=args.executor,
                      workers=args.workers, upload_port=args.upload_port)
        if args.command == "down":
            return down()
        if args.command == "status":
            return status()
        return docs(args.port)
    except ProcessError as exc:
        print(f"halfsky: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
