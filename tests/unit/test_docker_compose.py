"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine): keep them valid, safe and in
step with the README and deploy/compose.env.example."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from conftest import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / "deploy" / "compose.env.example"
DOCKERFILE = REPO_ROOT / "Dockerfile"
AIRFLOW_LONG_RUNNING = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def airflow_services(compose) -> dict:
    return {name: service for name, service in compose["services"].items() if name.startswith("airflow-")}


def _pinned(name: str) -> str:
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        if line.lower().startswith(f"{name}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{name} is not pinned in constraints.txt")


def test_compose_file_is_valid_and_has_the_documented_services(compose, airflow_services):
    services = set(compose["services"])
    assert {"postgres", "airflow-init", *AIRFLOW_LONG_RUNNING} <= services
    readme = (REPO_ROOT / "README.md").read_text()
    for service in services:
        assert service in readme, f"README does not mention compose service {service}"
    for name, service in airflow_services.items():
        env = service["environment"]
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/halfsky/dags"
        # No secret literal in the repo: every password comes from the environment.
        for key, value in env.items():
            if re.search(r"PASSWORD|SECRET|KEY", key) and not key.endswith("_FILE"):  # a path is no secret
                assert "${" in str(value), (name, key)


def test_airflow_runs_the_baked_image_and_installs_nothing_at_start(compose, airflow_services):
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in COMPOSE.read_text()
    images = set()
    for name, service in airflow_services.items():
        assert service["build"] == {"context": ".", "dockerfile": "Dockerfile"}, name
        images.add(service["image"])
        assert "/opt/halfsky" not in [v.split(":")[-1] for v in service.get("volumes", [])], \
            f"{name} mounts the repository over the baked code"
    assert len(images) == 1, "all Airflow services must run the one image the Dockerfile builds"


def test_every_service_has_a_healthcheck_and_starts_in_order(compose, airflow_services):
    for name, service in compose["services"].items():
        if name == "airflow-init":
            continue  # runs once; the others wait for it to complete
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    init = compose["services"]["airflow-init"]
    assert init["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in AIRFLOW_LONG_RUNNING:
        assert compose["services"][name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "airflow-init": {"condition": "service_completed_successfully"},
        }, name
    assert compose["services"]["airflow-scheduler"]["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True"


def test_one_secret_key_and_one_jwt_secret_for_all_airflow_services(airflow_services):
    for key, variable in (("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW_JWT_SECRET"),
                          ("AIRFLOW__API__SECRET_KEY", "AIRFLOW_API_SECRET_KEY")):
        values = {service["environment"][key] for service in airflow_services.values()}
        assert len(values) == 1, key
        assert VARIABLE.fullmatch(values.pop()).group(1) == variable


def test_logs_are_shared_and_landing_and_quarantine_are_bind_mounts_the_airflow_user_owns(compose, airflow_services):
    def mounts(service):
        return {volume.rsplit(":", 1)[1] if volume.count(":") >= 1 else volume: volume.rsplit(":", 1)[0]
                for volume in service.get("volumes", [])}

    named_volumes = set(compose.get("volumes") or {})
    for target in ("/opt/airflow/logs", "/data/landing", "/data/quarantine"):
        sources = {mounts(service).get(target) for service in airflow_services.values()}
        assert len(sources) == 1 and None not in sources, f"{target} is not mounted the same in every service"
        source = sources.pop()
        assert source not in named_volumes and source.startswith(("./", "/", "${")), (target, source)
    for service in airflow_services.values():
        assert service["environment"]["AIRFLOW_VAR_LANDING_URL"] == "/data/landing"
        assert service["environment"]["AIRFLOW_VAR_QUARANTINE_URL"] == "/data/quarantine"
    init = compose["services"]["airflow-init"]
    assert init["user"] == "0:0"
    script = "\n".join(init["command"])
    for path in ("/data/landing", "/data/quarantine", "/opt/airflow/logs"):
        assert re.search(rf"chown [^\n]*{path}", script), f"airflow-init does not chown {path}"
    for name in AIRFLOW_LONG_RUNNING:
        assert compose["services"][name]["user"] == "${AIRFLOW_UID:-50000}:0", name


def test_login_users_and_passwords_come_from_env(compose, airflow_services):
    for service in airflow_services.values():
        env = service["environment"]
        assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "${AIRFLOW_ADMIN_USERNAME:-admin}:admin"
        password_file = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    folder = password_file.rsplit("/", 1)[0]
    for name in ("airflow-init", "airflow-apiserver"):
        assert any(v.startswith("airflow-auth:") and v.endswith(folder) for v in compose["services"][name]["volumes"])
    init = compose["services"]["airflow-init"]
    assert init["environment"]["ADMIN_PASSWORD"].startswith("${AIRFLOW_ADMIN_PASSWORD:?")
    assert password_file in "\n".join(init["command"])


def test_ports_are_loopback_only_and_never_the_hosts_5432(compose):
    published = [port for service in compose["services"].values() for port in service.get("ports", [])]
    assert published
    for port in published:
        assert isinstance(port, str) and port.startswith("127.0.0.1:"), port
        host_port = port.removeprefix("127.0.0.1:").rsplit(":", 1)[0]
        if variable := VARIABLE.fullmatch(host_port):
            assert (variable.group(2) or "").startswith(":-"), f"{port}: give the host port a default"
            host_port = variable.group(2)[2:]
        assert host_port.isdigit() and host_port != "5432", port


def test_analyst_password_timezone_and_telemetry(compose, airflow_services):
    from halfsky_dev.devenv import TELEMETRY_OFF

    for name, service in airflow_services.items():
        env = service["environment"]
        assert VARIABLE.fullmatch(env["HALFSKY_ANALYST_PASSWORD"]).group(1) == "HALFSKY_ANALYST_PASSWORD"
        assert env["AIRFLOW__CORE__DEFAULT_TIMEZONE"] == "Asia/Shanghai"
        for key, value in TELEMETRY_OFF.items():
            assert env.get(key) == value, (name, key)


def test_env_example_names_every_variable_with_placeholders_only():
    text = COMPOSE.read_text()
    used = {m.group(1): m.group(2) or "" for m in VARIABLE.finditer(text)}
    example = ENV_EXAMPLE.read_text()
    set_in_example = dict(re.findall(r"^([A-Z_][A-Z0-9_]*)=(.*)$", example, re.M))
    documented = set(set_in_example) | set(re.findall(r"^# ([A-Z_][A-Z0-9_]*)=", example, re.M))
    assert set(used) <= documented, f"not in {ENV_EXAMPLE.name}: {sorted(set(used) - documented)}"
    for name, modifier in used.items():
        if modifier.startswith(":?"):
            assert name in set_in_example, f"{name} is required but commented out in the example"
    for name, value in set_in_example.items():
        if re.search(r"PASSWORD|SECRET|KEY", name):
            assert "change-me" in value, f"{name} in the example must be a placeholder"


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_config_accepts_the_file(tmp_path):
    command = _compose_command()
    if command is None:
        pytest.skip("no `docker compose` plugin or `docker-compose` binary on this machine "
                    "(Debian: apt-get install docker-compose)")
    # A clean environment: the developer's own .halfsky/env.sh exports (HALFSKY_PERSON_HMAC_KEY...) must not count.
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)}
    base = [*command, "--project-directory", str(REPO_ROOT), "-f", str(COMPOSE)]
    ok = subprocess.run([*base, "--env-file", str(ENV_EXAMPLE), "config"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    resolved = yaml.safe_load(ok.stdout)
    assert set(resolved["services"]) >= {"postgres", "airflow-init", *AIRFLOW_LONG_RUNNING}
    empty = tmp_path / "empty.env"
    empty.write_text("")
    missing = subprocess.run([*base, "--env-file", str(empty), "config"], capture_output=True, text=True, env=env)
    assert missing.returncode != 0 and "in .env" in missing.stderr, "compose must refuse to start without secrets"


def test_dockerfile_is_pinned_and_bakes_halfsky_with_the_constraints():
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    froms = [line for line in lines if line.upper().startswith("FROM ")]
    assert froms == [f"FROM apache/airflow:{_pinned('apache-airflow')}-python3.11"]
    assert froms[0] == "FROM apache/airflow:3.3.2-python3.11"
    text = DOCKERFILE.read_text()
    assert re.search(r"^COPY [^\n]*constraints\.txt", text, re.M)
    assert re.search(r"pip install [^\n]*-c /opt/halfsky/constraints\.txt[^\n]*-e /opt/halfsky", text)
    for folder in ("plugins", "dags", "dbt_project", "expectations"):
        assert re.search(rf"^COPY [^\n]*\b{folder} /opt/halfsky/{folder}$", text, re.M), folder
    assert "compileall" in text and "halfsky.orchestration.dbt_manifest" in text
    assert "AIRFLOW__CORE__DAGS_FOLDER=/opt/halfsky/dags" in text


def test_dockerignore_sends_no_secret_or_data_to_the_build():
    lines = [line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*", "ignore everything, then allow what the Dockerfile copies"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"constraints.txt", "pyproject.toml", "README.md", "plugins", "dags", "dbt_project",
                       "expectations"}


def test_the_celery_profile_adds_a_private_redis_and_workers_that_run_the_same_image(compose, airflow_services):
    redis, worker = compose["services"]["redis"], compose["services"]["airflow-worker"]
    assert redis["profiles"] == ["celery"] and worker["profiles"] == ["celery"]
    assert "ports" not in redis, "the broker is reachable from the compose network only"
    assert "--requirepass" in " ".join(redis["command"]) and redis["environment"]["REDIS_PASSWORD"].startswith("${")
    assert worker["command"] == "celery worker"
    assert worker["depends_on"]["redis"] == {"condition": "service_healthy"}
    # One executor setting for every Airflow service: a scheduler on Celery with Local workers (or none) never runs.
    executors = {service["environment"]["AIRFLOW__CORE__EXECUTOR"] for service in airflow_services.values()}
    assert executors == {"${AIRFLOW_EXECUTOR:-LocalExecutor}"}
    brokers = {service["environment"]["AIRFLOW__CELERY__BROKER_URL"] for service in airflow_services.values()}
    assert brokers == {"redis://:${HALFSKY_REDIS_PASSWORD:-}@redis:6379/0"}
    example = ENV_EXAMPLE.read_text()
    for line in ("COMPOSE_PROFILES=celery", "AIRFLOW_EXECUTOR=CeleryExecutor", "HALFSKY_REDIS_PASSWORD="):
        assert line in example, line
    assert "apache-airflow-providers-celery" in (REPO_ROOT / "pyproject.toml").read_text()
