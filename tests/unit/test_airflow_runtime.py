"""One source of the Airflow settings every deployment shares: halfsky.config.airflow_runtime.

``make up`` builds its environment from it; docker-compose.yml and the Helm values are copies, checked here
key by key (a compose ``${VAR:-default}`` counts as its default, which is what runs unless a site sets VAR).
"""

from __future__ import annotations

import importlib.util
import re

import pytest
import yaml

from conftest import REPO_ROOT
from halfsky.config import airflow_runtime as runtime

COMPOSE = REPO_ROOT / "docker-compose.yml"
HELM_VALUES = REPO_ROOT / "deploy" / "kubernetes" / "values.yaml"
POD_TEMPLATE = REPO_ROOT / "deploy" / "kubernetes" / "pod_template.yaml"
DEFAULTED = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}$")


def _compose_value(value) -> str:
    """What compose hands the container: ``${VAR:-default}`` as its default. Any other ``${…}`` stays as it is
    written, so it never equals a value of airflow_runtime."""
    text = str(value)
    match = DEFAULTED.match(text)
    return match.group(1) if match else text


def compose_settings() -> dict[str, dict[str, str]]:
    """Each Airflow service of docker-compose.yml: its environment as the container sees it."""
    compose = yaml.safe_load(COMPOSE.read_text())
    services = {name: s for name, s in compose["services"].items() if name.startswith("airflow-")}
    assert services
    return {name: {key: _compose_value(v) for key, v in (s.get("environment") or {}).items()}
            for name, s in services.items()}


def _helm_text(value) -> str:
    """A values.yaml scalar as airflow.cfg or the environment gets it (YAML reads 16 as int, True as bool)."""
    return str(value)


def helm_settings() -> dict[str, str]:
    """The Airflow settings the Helm values give: ``config:`` (airflow.cfg in every container and task pod) as
    AIRFLOW__SECTION__KEY, with the ``env:`` of the chart's containers and of the worker pod template on top."""
    values = yaml.safe_load(HELM_VALUES.read_text())
    found = {f"AIRFLOW__{section.upper()}__{key.upper()}": _helm_text(value)
             for section, options in (values.get("config") or {}).items() for key, value in options.items()}
    pod = yaml.safe_load(POD_TEMPLATE.read_text())
    entries = [*(values.get("env") or []), *(e for c in pod["spec"]["containers"] for e in c.get("env") or [])]
    for entry in entries:
        if entry["name"].startswith("AIRFLOW__") and "value" in entry:
            key = entry["name"]
            assert found.get(key, entry["value"]) == _helm_text(entry["value"]), f"{key}: env and config differ"
            found[key] = _helm_text(entry["value"])
    return found


def _differences(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    return [f"{key}: {actual.get(key, '(not set)')!r}, airflow_runtime says {value!r}"
            for key, value in expected.items() if actual.get(key) != value]


def test_every_compose_airflow_service_carries_the_shared_settings():
    for name, env in compose_settings().items():
        assert _differences(runtime.COMPOSE, env) == [], name
        # Compose's workers are containers, each with a host name of its own: Airflow's default names them.
        assert not set(runtime.LOCAL_CELERY_WORKERS) & set(env), name


def test_the_helm_values_carry_the_shared_settings():
    settings = helm_settings()
    assert _differences(runtime.KUBERNETES, settings) == []
    # Every task is a pod: nothing forks tasks, and there is no Celery.
    assert not (set(runtime.FORKING) | set(runtime.CELERY) | set(runtime.LOCAL_CELERY_WORKERS)) & set(settings)


@pytest.mark.parametrize("celery", [False, True], ids=["local", "celery"])
def test_make_up_runs_with_the_shared_settings(celery, tmp_path, monkeypatch):
    from halfsky_dev import services

    monkeypatch.setenv("HALFSKY_HOME", str(tmp_path))
    for key in {**runtime.make_up(celery=True)}:
        monkeypatch.delenv(key, raising=False)
    env = services.service_env(8095, "celery" if celery else "local")
    assert _differences(runtime.make_up(celery), env) == []
    if not celery:
        assert not (set(runtime.CELERY) | set(runtime.LOCAL_CELERY_WORKERS)) & set(env)


def test_what_a_setting_exported_by_hand_wins_in_make_up(tmp_path, monkeypatch):
    """The bench (--env, --parallelism) and a developer change a setting for one `make up` by exporting it."""
    from halfsky_dev import services

    monkeypatch.setenv("HALFSKY_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__CORE__PARALLELISM", "2")
    monkeypatch.setenv("AIRFLOW__SCHEDULER__MP_START_METHOD", "fork")
    env = services.service_env(8095)
    assert env["AIRFLOW__CORE__PARALLELISM"] == "2" and env["AIRFLOW__SCHEDULER__MP_START_METHOD"] == "fork"


def test_ingest_has_fewer_slots_than_the_light_tasks():
    """parallelism is sized for build_marts' boxes; ingest, which does the work, has a cap of its own below it."""
    from halfsky.ingest import batches

    assert batches.DEFAULT_SLOTS < int(runtime.SHARED["AIRFLOW__CORE__PARALLELISM"]) == runtime.PARALLELISM
    assert runtime.PARALLELISM == int(runtime.KUBERNETES["AIRFLOW__CORE__PARALLELISM"])


def test_every_module_a_setting_names_exists():
    """A renamed module would leave Airflow importing nothing (the preload) or failing at start."""
    dotted = [*runtime.FORKING["AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD"].split(","),
              runtime.CELERY["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"].rsplit(".", 1)[0],
              runtime.LOCAL_CELERY_WORKERS["AIRFLOW__CORE__HOSTNAME_CALLABLE"].rsplit(".", 1)[0],
              runtime.SHARED["AIRFLOW__CORE__AUTH_MANAGER"].rsplit(".", 1)[0]]
    missing = [name for name in dotted if importlib.util.find_spec(name) is None]
    assert missing == []
    from halfsky.orchestration import worker_identity

    assert callable(worker_identity.hostname)


def test_the_comparison_sees_a_difference():
    """The checks above can fail: a value off by one, a setting left out, a default that is not the value."""
    expected = {"AIRFLOW__CORE__PARALLELISM": "4", "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai"}
    assert len(_differences(expected, {"AIRFLOW__CORE__PARALLELISM": _compose_value("${P:-5}")})) == 2
    assert _differences(expected, {"AIRFLOW__CORE__PARALLELISM": _compose_value("${P:-4}"),
                                   "AIRFLOW__CORE__DEFAULT_TIMEZONE": _helm_text("Asia/Shanghai")}) == []
