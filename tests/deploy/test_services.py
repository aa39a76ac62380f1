"""`make up` / `make down`: the four Airflow services and the upload page really start, answer on loopback, log in,
and all stop."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from conftest import REPO_ROOT

SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer", "upload-page")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _services(env: dict[str, str], *args: str, timeout: float = 150) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "halfsky_dev.services", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=REPO_ROOT)


def _group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (OSError, psutil.Error):
            pass
    return members


@pytest.fixture
def services_env(fresh_database, tmp_path):
    """A private HALFSKY_HOME and Airflow metadata database, so a developer's own `make up` is never touched."""
    with fresh_database("services", schema=True) as dsn:
        yield from _services_env(dsn, tmp_path)


def _services_env(dsn, tmp_path):
    metadata = dsn.replace("postgresql://", "postgresql+psycopg2://", 1)
    env = {
        **os.environ,
        "HALFSKY_HOME": str(tmp_path / "halfsky"),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(tmp_path / "airflow" / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "HALFSKY_AIRFLOW_PORT": str(_free_port()),
        "HALFSKY_UPLOAD_PORT": str(_free_port()),
        "AIRFLOW_CONN_WAREHOUSE_DB": dsn,  # the upload page's accounts and audit: this test's database
    }
    env.pop("HALFSKY_DBT_MANIFEST", None)
    env.pop("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", None)
    subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], env=env, check=True,
                   capture_output=True)
    try:
        yield env
    finally:
        _services(env, "down")


@pytest.mark.slow
def test_up_serves_the_ui_on_loopback_with_a_login_and_down_stops_everything(services_env):
    env = services_env
    home = Path(env["HALFSKY_HOME"]) / "services"
    base = f"http://127.0.0.1:{env['HALFSKY_AIRFLOW_PORT']}"

    result = _services(env, "up")
    assert result.returncode == 0, result.stderr + result.stdout
    password = json.loads((home / "simple_auth_manager_passwords.json").read_text())["admin"]
    assert f"admin / {password}" in result.stdout and base in result.stdout
    for secret in ("simple_auth_manager_passwords.json", "jwt_secret", "api_secret_key"):
        assert (home / secret).stat().st_mode & 0o777 == 0o600, secret
    pids = {name: int((home / f"{name}.pid").read_text()) for name in SERVICES}

    with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=10) as response:
        assert json.loads(response.read())["metadatabase"]["status"] == "healthy"
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"{base}/api/v2/dags", timeout=10)
    assert anonymous.value.code == 401

    from halfsky_dev.services import login

    token = login(base, "admin", password)
    request = urllib.request.Request(f"{base}/api/v2/dags", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert "dags" in json.loads(response.read())
    with pytest.raises(urllib.error.HTTPError):
        login(base, "admin", password + "x")

    upload_page = f"http://127.0.0.1:{env['HALFSKY_UPLOAD_PORT']}"
    assert upload_page in result.stdout
    with urllib.request.urlopen(f"{upload_page}/login", timeout=10) as response:
        assert "登录" in response.read().decode()
    assert (home / "upload-page.log").exists()

    # Nothing listens beyond 127.0.0.1 (no log servers on 0.0.0.0).
    for pid in pids.values():
        for proc in _group_members(pid):
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    assert conn.laddr.ip == "127.0.0.1", (proc.cmdline(), conn)

    again = _services(env, "up")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stderr
    assert {name: int((home / f"{name}.pid").read_text()) for name in SERVICES} == pids

    stopped = _services(env, "down")
    assert stopped.returncode == 0, stopped.stderr
    for name, pid in pids.items():
        assert _group_members(pid) == [], f"{name} left processes behind"
        assert not (home / f"{name}.pid").exists()
    assert "nothing was running" in _services(env, "down").stderr
