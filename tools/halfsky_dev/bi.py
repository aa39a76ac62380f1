"""Apache Superset on this machine, reading the warehouse as ``halfsky_analyst``, dashboards from the repo.

``make bi`` / ``make bi-check`` call this with the environment of ``.halfsky/env.sh``::

    python -m halfsky_dev.bi up [--port 8088]   # install (once), migrate, admin, start, import the dashboards
    python -m halfsky_dev.bi import             # import deploy/superset/assets again into a running Superset
    python -m halfsky_dev.bi check              # headless Chromium opens every dashboard; screenshots
    python -m halfsky_dev.bi status
    python -m halfsky_dev.bi down               # stops the Superset that up started, nothing else

Superset 6.1.0 lives in its own virtualenv, ``<HALFSKY_HOME>/superset/venv`` (its pins clash with
Airflow's), installed with the exact versions of ``deploy/superset/constraints.txt``; a stamp file skips
the install while those are unchanged. Everything else it keeps is beside it in ``<HALFSKY_HOME>/superset``
(0700): the secret key and the admin's password (made once, 0600), its metadata database (``home/``),
``gunicorn.pid`` and ``gunicorn.log``. It listens on 127.0.0.1 only, and nothing leaves the machine
(``deploy/superset/superset_config.py``: the Content-Security-Policy blocks Scarf's pixel and every
other outside host).

The dashboards are YAML under ``deploy/superset/assets`` (written by ``deploy/superset/build_assets.py``).
``up`` zips them on the fly, filling the database's host, port and name in from the warehouse DSN, and
posts them to ``/api/v1/assets/import/``, which overwrites the database, datasets, charts and dashboards
of the same UUIDs; the analyst's password goes in the request's ``passwords`` field, never to a file.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from urllib.parse import quote, urlsplit

from halfsky.config.private_files import secret
from halfsky_dev.devenv import REPO_ROOT, TELEMETRY_OFF, private_dir, state_dir
from halfsky_dev.processes import HOST, ProcessError, Processes, port_taken

DEFAULT_PORT = 8088
ADMIN_USER = "admin"
SUPERSET_VERSION = "6.1.0"
# flask-caching 2.5 breaks start-up; rich and cachetools are imported but not declared by 6.1.0.
REQUIREMENTS = [f"apache-superset[postgres]=={SUPERSET_VERSION}", "flask-caching==2.3.1", "rich", "cachetools"]
PLAYWRIGHT = ["playwright==1.65.2", "greenlet==3.5.6"]  # as the prototype froze them
CHROMIUM = "/usr/bin/chromium"
DEPLOY = REPO_ROOT / "deploy" / "superset"
ASSETS = DEPLOY / "assets"
CONSTRAINTS = DEPLOY / "constraints.txt"
CONFIG = DEPLOY / "superset_config.py"
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots" / "bi"
ANALYST = "halfsky_analyst"
MASKED = "XXXXXXXXXX"  # what an export writes instead of a password


class BIError(ProcessError):
    pass


# --- where things live ---------------------------------------------------------------------------

def superset_dir() -> Path:
    return private_dir(state_dir() / "superset")


def venv_dir() -> Path:
    return superset_dir() / "venv"


def venv_bin(name: str) -> str:
    return str(venv_dir() / "bin" / name)


SERVER = "gunicorn"


def processes() -> Processes:
    """gunicorn.pid and gunicorn.log beside Superset's other files; its workers go with its master."""
    return Processes(superset_dir(), marks=("gunicorn",))


def log_file() -> Path:
    return processes().log_file(SERVER)


def port_file() -> Path:
    return superset_dir() / "port"


def secret_key() -> str:
    return secret(superset_dir() / "secret_key", 48)


def admin_password() -> str:
    return os.environ.get("SUPERSET_ADMIN_PASSWORD") or secret(superset_dir() / "admin_password", 18)


def analyst_password() -> str:
    value = os.environ.get("HALFSKY_ANALYST_PASSWORD", "").strip()
    if not value:
        path = state_dir() / "analyst_password"
        if not path.exists():
            raise BIError("no analyst password: run `make setup` or set HALFSKY_ANALYST_PASSWORD")
        value = path.read_text().strip()
    return value


def superset_env() -> dict[str, str]:
    home = superset_dir() / "home"
    home.mkdir(exist_ok=True, mode=0o700)
    env = {**os.environ, **TELEMETRY_OFF}
    env.update({
        "SUPERSET_CONFIG_PATH": str(CONFIG),
        "SUPERSET_HOME": str(home),
        "SUPERSET_SECRET_KEY": secret_key(),
        "FLASK_APP": "superset",
        "PATH": f"{venv_dir() / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(venv_dir()),
        "PYTHONNOUSERSITE": "1",
    })
    # The warehouse's passwords are none of Superset's business: it gets the analyst's through the import.
    for key in ("HALFSKY_ADMIN_DSN", "AIRFLOW_CONN_WAREHOUSE_DB", "WAREHOUSE_DSN", "HALFSKY_WAREHOUSE_DSN",
                "HALFSKY_DB_PASSWORD", "HALFSKY_PERSON_HMAC_KEY", "HALFSKY_ANALYST_PASSWORD",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "PYTHONPATH"):
        env.pop(key, None)
    return env


# --- install -------------------------------------------------------------------------------------

def _python311() -> str:
    for candidate in (os.environ.get("PYTHON", ""), "python3.11", sys.executable):
        if candidate and shutil.which(candidate) or (candidate and Path(candidate).is_file()):
            probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 11))"],
                                   capture_output=True, text=True)
            if probe.stdout.strip() == "True":
                return candidate
    raise BIError("Python 3.11 is needed for Superset's virtualenv (set PYTHON=/path/to/python3.11)")


def _install(venv: Path, requirements: list[str], constraints: Path | None, stamp_text: str) -> None:
    """A virtualenv with ``requirements``; skipped while its stamp matches (scripts/bootstrap.sh does the same)."""
    stamp = venv / ".halfsky-installed"
    want = hashlib.sha256((stamp_text + "\n".join(requirements)).encode()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == want and (venv / "bin" / "python").exists():
        return
    if not (venv / "bin" / "python").exists():
        print(f"halfsky: creating {venv}", file=sys.stderr)
        subprocess.run([_python311(), "-m", "venv", str(venv)], check=True)
    print(f"halfsky: installing {requirements[0]} into {venv} (first run takes a few minutes)", file=sys.stderr)
    cons = ["-c", str(constraints)] if constraints else []
    uv = Path(sys.executable).with_name("uv")  # the main .venv has it (bootstrap.sh); ten times faster than pip
    env = {**os.environ, **TELEMETRY_OFF}
    if uv.exists():
        cmd = [str(uv), "pip", "install", "--python", str(venv / "bin" / "python"), "-q", "--compile-bytecode",
               *cons, *requirements]
    else:
        cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
               *cons, *requirements]
    result = subprocess.run(cmd, env=env)
    if result.returncode != 0:
        raise BIError(f"installing {requirements[0]} failed (exit {result.returncode})")
    stamp.write_text(want + "\n")


def ensure_venv() -> None:
    _install(venv_dir(), REQUIREMENTS, CONSTRAINTS, CONSTRAINTS.read_text())


# --- Superset's metadata and admin ---------------------------------------------------------------

_ENSURE_ADMIN = """
import os
from superset.app import create_app
app = create_app()
with app.app_context():
    from superset import security_manager as sm
    from superset.extensions import db
    name, password = os.environ["HALFSKY_BI_ADMIN"], os.environ.pop("HALFSKY_BI_ADMIN_PASSWORD")
    user = sm.find_user(username=name)
    if user is None:
        user = sm.add_user(name, "Admin", "halfsky", f"{name}@localhost", sm.find_role("Admin"), password=password)
        if not user:
            raise SystemExit("could not create the admin user")
        print("created")
    else:
        sm.reset_password(user.id, password)
        print("password set")
"""


def _run(argv: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(argv, env=env, cwd=superset_dir(), capture_output=True, text=True)
    if result.returncode != 0:
        raise BIError(f"{what} failed (exit {result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def ensure_metadata(env: dict[str, str]) -> None:
    """superset db upgrade + init (skipped while Superset's install and config are unchanged), then the admin."""
    stamp = superset_dir() / "home" / ".halfsky-initialised"
    want = hashlib.sha256((venv_dir() / ".halfsky-installed").read_bytes() + CONFIG.read_bytes()).hexdigest()
    if not (stamp.exists() and stamp.read_text().strip() == want
            and (superset_dir() / "home" / "superset.db").exists()):
        t = time.monotonic()
        _run([venv_bin("superset"), "db", "upgrade"], env, "superset db upgrade")
        _run([venv_bin("superset"), "init"], env, "superset init")
        stamp.write_text(want + "\n")
        print(f"halfsky: Superset metadata migrated and initialised ({time.monotonic() - t:.0f} s)", file=sys.stderr)
    # The password goes in the environment of one process (popped at once), never on a command line.
    out = _run([venv_bin("python"), "-c", _ENSURE_ADMIN],
               {**env, "HALFSKY_BI_ADMIN": ADMIN_USER, "HALFSKY_BI_ADMIN_PASSWORD": admin_password()},
               "creating the Superset admin")
    print(f"halfsky: Superset admin {ADMIN_USER}: {out.strip().splitlines()[-1] if out.strip() else 'ok'}",
          file=sys.stderr)


# --- the server ----------------------------------------------------------------------------------

def running() -> int | None:
    """gunicorn's master pid if the pid file names a live gunicorn we started."""
    return processes().running(SERVER)


def running_url() -> str:
    """The address of the Superset ``up`` started (its port is kept beside its pid)."""
    return f"http://{HOST}:{int(port_file().read_text())}"


def _healthy(base_url: str) -> bool:
    import requests
    try:
        return requests.get(f"{base_url}/health", timeout=3).status_code == 200
    except requests.RequestException:
        return False


def start_server(env: dict[str, str], port: int, timeout: float = 180.0) -> str:
    base_url = f"http://{HOST}:{port}"
    procs = processes()
    with procs.lock():
        pid = procs.running(SERVER)
        if pid is not None:
            base_url = running_url()
            print(f"halfsky: Superset already running (pid {pid}) on {base_url}", file=sys.stderr)
        else:
            if port_taken(port):
                raise BIError(f"{HOST}:{port} is taken by another program; pick another port: "
                              f"make bi BI_PORT={port + 10}")
            argv = [venv_bin("gunicorn"), "-w", "2", "-k", "gthread", "--threads", "4", "--timeout", "120",
                    "-b", f"{HOST}:{port}", "--access-logfile", "-", "--error-logfile", "-",
                    "superset.app:create_app()"]
            procs.stop(SERVER)  # what an earlier master that died left behind
            pid = procs.start(SERVER, argv, env, cwd=superset_dir())
            port_file().write_text(f"{port}\n")
    t = time.monotonic()
    try:
        procs.wait(SERVER, lambda: _healthy(base_url), timeout, f"Superset's {base_url}/health", interval=0.5)
    except ProcessError:
        stop_server()
        raise
    print(f"halfsky: Superset /health OK after {time.monotonic() - t:.1f} s (gunicorn pid {pid})", file=sys.stderr)
    return base_url


def stop_server(timeout: float = 30.0) -> bool:
    procs = processes()
    with procs.lock():
        stopped = procs.stop(SERVER, timeout=timeout)
        port_file().unlink(missing_ok=True)
    return bool(stopped)


# --- the dashboards ------------------------------------------------------------------------------

def warehouse_uri() -> str:
    """The SQLAlchemy URI Superset reads the warehouse with: the analyst, host/port/db from the warehouse DSN."""
    from halfsky.config.settings import MissingSetting, warehouse_dsn

    try:
        parts = urlsplit(warehouse_dsn())
    except MissingSetting as exc:
        raise BIError(f"{exc} (make bi sources .halfsky/env.sh)") from exc
    host = parts.hostname or HOST
    port = parts.port or 5432
    dbname = parts.path.lstrip("/") or "halfsky"
    if ":" in host:
        host = f"[{host}]"
    return f"postgresql+psycopg2://{ANALYST}:{MASKED}@{host}:{port}/{quote(dbname, safe='')}"


def bundle(assets: Path = ASSETS) -> tuple[bytes, list[str]]:
    """deploy/superset/assets as the zip /api/v1/assets/import/ takes (under one top folder, which the
    importer strips), the database URIs filled in; and the names of the database files. With
    HALFSKY_TILE_URL (an XYZ tile server inside the network) the deck.gl maps use it as base map."""
    import yaml

    uri = warehouse_uri()
    tiles = os.environ.get("HALFSKY_TILE_URL", "").strip()
    buf = io.BytesIO()
    databases = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(assets.rglob("*.yaml")):
            name = path.relative_to(assets).as_posix()
            data = path.read_bytes()
            if name.startswith("databases/"):
                doc = yaml.safe_load(data)
                doc["sqlalchemy_uri"] = uri
                data = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode()
                databases.append(name)
            elif tiles and name.startswith("charts/"):
                doc = yaml.safe_load(data)
                if "mapbox_style" in (doc.get("params") or {}):
                    doc["params"]["mapbox_style"] = f"tile://{tiles}"
                    data = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode()
            z.writestr(f"halfsky_assets/{name}", data)
    return buf.getvalue(), databases


class Superset:
    """A logged-in REST session (JWT + the CSRF token bound to its session cookie)."""

    def __init__(self, base_url: str, user: str, password: str):
        import requests

        self.base = base_url
        self.s = requests.Session()
        r = self.s.post(f"{base_url}/api/v1/security/login", timeout=30,
                        json={"username": user, "password": password, "provider": "db", "refresh": True})
        if r.status_code != 200:
            raise BIError(f"Superset login as {user} failed: {r.status_code} {r.text[:300]}")
        self.s.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        r = self.s.get(f"{base_url}/api/v1/security/csrf_token/", timeout=30)
        r.raise_for_status()
        self.s.headers["X-CSRFToken"] = r.json()["result"]
        self.s.headers["Referer"] = base_url

    def req(self, method: str, path: str, ok=(200, 201), **kw):
        r = self.s.request(method, f"{self.base}{path}", timeout=300, **kw)
        if r.status_code not in ok:
            raise BIError(f"{method} {path} -> {r.status_code}: {r.text[:2000]}")
        return r

    def j(self, method: str, path: str, **kw):
        return self.req(method, path, **kw).json()


def import_assets(base_url: str) -> list[dict]:
    """POST the bundle to /api/v1/assets/import/ (overwrites everything of the same UUIDs); the dashboards."""
    data, databases = bundle()
    sp = Superset(base_url, ADMIN_USER, admin_password())
    password = analyst_password()
    t = time.monotonic()
    sp.req("POST", "/api/v1/assets/import/",
           files={"bundle": ("halfsky_assets.zip", data, "application/zip")},
           data={"passwords": json.dumps({name: password for name in databases})})
    dashboards = halfsky_dashboards(sp)
    print(f"halfsky: imported {len(data)} bytes of dashboards ({len(dashboards)} dashboards) "
          f"in {time.monotonic() - t:.1f} s", file=sys.stderr)
    return dashboards


def halfsky_dashboards(sp: Superset) -> list[dict]:
    """The dashboards halfsky imported (slug halfsky-…), by slug: id, slug and title."""
    q = "(filters:!((col:slug,opr:ct,value:halfsky)),columns:!(id,slug,dashboard_title),page_size:100)"
    return sorted(sp.j("GET", f"/api/v1/dashboard/?q={q}")["result"], key=lambda d: d["slug"])


# --- commands ------------------------------------------------------------------------------------

def up(port: int) -> int:
    t0 = time.monotonic()
    ensure_venv()
    env = superset_env()
    ensure_metadata(env)
    base_url = start_server(env, port)
    dashboards = import_assets(base_url)
    lines = "\n".join(f"             {base_url}/superset/dashboard/{d['slug']}/  {d['dashboard_title']}"
                      for d in dashboards)
    print(f"""
Superset:    {base_url}   (ready in {time.monotonic() - t0:.0f} s)
Log in as:   {ADMIN_USER} / {admin_password()}
             (kept in {superset_dir() / 'admin_password'})
Dashboards:
{lines}
Warehouse:   {warehouse_uri().replace(MASKED, '***')}   (read-only role {ANALYST})
Logs:        {log_file()}
Check:       make bi-check   (headless Chromium, screenshots in {SCREENSHOTS.relative_to(REPO_ROOT)})
Stop:        make bi-down   (python -m halfsky_dev.bi down)""")
    return 0


def down() -> int:
    stopped = stop_server()
    print("halfsky: stopped Superset" if stopped else "halfsky: Superset was not running", file=sys.stderr)
    return 0


def status() -> int:
    pid = running()
    if pid is None:
        print("superset       stopped")
        return 0
    url = running_url()
    print(f"superset       running, pid {pid}, {url}  health: {'ok' if _healthy(url) else 'no answer'}")
    return 0


def check(timeout: float) -> int:
    """Playwright (its own venv, Debian's Chromium, never `playwright install`) opens every dashboard."""
    pid = running()
    if pid is None:
        raise BIError("Superset is not running: make bi")
    if not Path(CHROMIUM).exists():
        raise BIError(f"{CHROMIUM} is missing: apt-get install chromium fonts-noto-cjk")
    venv = superset_dir() / "pw-venv"
    _install(venv, PLAYWRIGHT, None, "")
    base_url = running_url()
    slugs = [d["slug"] for d in halfsky_dashboards(Superset(base_url, ADMIN_USER, admin_password()))]
    if not slugs:
        raise BIError("no halfsky dashboards in Superset: make bi")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **TELEMETRY_OFF, "SUPERSET_URL": base_url, "SUPERSET_ADMIN_PASSWORD": admin_password(),
           "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    env.pop("HALFSKY_ANALYST_PASSWORD", None)
    argv = [str(venv / "bin" / "python"), str(DEPLOY / "browser_check.py"), "--out-dir", str(SCREENSHOTS),
            "--timeout", str(timeout), *[a for s in slugs for a in ("--slug", s)]]
    tiles = os.environ.get("HALFSKY_TILE_URL", "").strip()
    if tiles:
        argv += ["--allow-host", urlsplit(tiles).netloc]
    return subprocess.run(argv, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m halfsky_dev.bi", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="install, migrate, start Superset on 127.0.0.1 and import the dashboards")
    p_up.add_argument("--port", type=int, default=int(os.environ.get("BI_PORT") or DEFAULT_PORT))
    sub.add_parser("import", help="import deploy/superset/assets into the running Superset")
    p_check = sub.add_parser("check", help="open every dashboard in headless Chromium; screenshots")
    p_check.add_argument("--timeout", type=float, default=90.0, help="seconds per chart")
    sub.add_parser("down", help="stop Superset")
    sub.add_parser("status", help="is Superset running")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            return up(args.port)
        if args.command == "import":
            if running() is None:
                raise BIError("Superset is not running: make bi")
            for d in import_assets(running_url()):
                print(d["slug"], d["dashboard_title"])
            return 0
        if args.command == "check":
            return check(args.timeout)
        if args.command == "down":
            return down()
        return status()
    except ProcessError as exc:
        print(f"halfsky: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
