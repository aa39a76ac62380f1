"""deploy/kubernetes/ cannot be installed here (no cluster, no helm): keep the Helm values and the worker pod
template parseable, in step with each other, with the chart and Airflow they are written for, and free of
secrets. docs/kubernetes.md is the recipe and says what was not tested."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT
from halfsky_dev.devenv import TELEMETRY_OFF

DEPLOY = REPO_ROOT / "deploy" / "kubernetes"
VALUES = DEPLOY / "values.yaml"
POD_TEMPLATE = DEPLOY / "pod_template.yaml"
DOC = REPO_ROOT / "docs" / "kubernetes.md"
CHART_VERSION = "1.22.0"

# The chart keys values.yaml may use, as nested dicts (None: any value below). All read in apache/airflow's
# chart/values.yaml at commit 5f1ee0aea931 (default Airflow 3.2.2, as chart 1.22.0); the image, database,
# secret, job, apiServer, triggerer, dags, logs, config and podTemplate keys also at 0655bec16bb0 (default
# 3.1.8, the 1.2x line); images, env, secret, extraEnv(From) and data in its values.schema.json too. The 1.x
# line only ever adds keys (chart/adr/0001), so 1.22.0 has them. Add a key only after reading it in the chart.
CHART_KEYS: dict = {
    "executor": None,
    "airflowVersion": None,
    "images": {"airflow": {"repository": None, "tag": None, "digest": None, "pullPolicy": None}},
    "defaultAirflowRepository": None,
    "defaultAirflowTag": None,
    "imagePullSecrets": None,
    "uid": None,
    "gid": None,
    "securityContexts": {"pod": None, "containers": None},
    "data": {"metadataSecretName": None},
    "postgresql": {"enabled": None},
    "redis": {"enabled": None},
    "pgbouncer": {"enabled": None},
    "statsd": {"enabled": None},
    "fernetKeySecretName": None,
    "apiSecretKeySecretName": None,
    "jwtSecretName": None,
    "env": None,
    "secret": None,
    "extraEnv": None,
    "extraEnvFrom": None,
    "createUserJob": {"enabled": None},
    "scheduler": {"resources": None, "securityContexts": None, "extraVolumes": None, "extraVolumeMounts": None},
    "apiServer": {"resources": None, "securityContexts": None, "extraVolumes": None, "extraVolumeMounts": None},
    "dagProcessor": {"resources": None, "securityContexts": None},
    "triggerer": {"resources": None, "securityContexts": None, "persistence": {"enabled": None}},
    "dags": {"persistence": {"enabled": None}, "gitSync": {"enabled": None}},
    "logs": {"persistence": {"enabled": None}},
    "config": None,  # airflow.cfg: its options are checked against Airflow's own below
    "podTemplate": None,
}
# Options of the cncf.kubernetes provider, which this machine's Airflow does not have installed.
PROVIDER_OPTIONS = {"kubernetes_executor": {"worker_pods_creation_batch_size", "delete_worker_pods",
                                            "delete_worker_pods_on_failure"}}
SECRETISH = re.compile(r"PASS|SECRET|KEY|CONN|TOKEN", re.IGNORECASE)  # PASS: the chart's metadataConnection.pass
# Keys whose value names a secret, a key inside one, a connection or a file, never holds one.
REFERENCE_SUFFIXES = ("secretname", "secretkey", "conn_id", "_file")
TEMPLATE_EXPRESSION = re.compile(r"\{\{(.*?)\}\}")


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES.read_text())


@pytest.fixture(scope="module")
def pod() -> dict:
    return yaml.safe_load(POD_TEMPLATE.read_text())


@pytest.fixture(scope="module")
def base(pod) -> dict:
    [container] = [c for c in pod["spec"]["containers"] if c["name"] == "base"]
    return container


def _env(entries: list[dict]) -> dict[str, dict]:
    return {entry["name"]: entry for entry in entries}


def _value_path(values: dict, expression: str):
    """The value a Helm `.Values.a.b` expression points at; KeyError if values.yaml has no such key."""
    node = values
    for part in expression.strip().removeprefix(".Values.").split("."):
        node = node[part]
    return node


def _render(text: str, values: dict) -> str:
    """Fill in the `.Values.` expressions of a template from values.yaml (the rest are the chart's to fill)."""
    def fill(match: re.Match) -> str:
        expression = match.group(1).strip()
        return str(_value_path(values, expression)) if expression.startswith(".Values.") else match.group(0)
    return TEMPLATE_EXPRESSION.sub(fill, text)


def test_both_files_are_single_yaml_documents(values, pod):
    assert isinstance(values, dict) and values
    assert pod["apiVersion"] == "v1" and pod["kind"] == "Pod"
    assert len(list(yaml.safe_load_all(POD_TEMPLATE.read_text()))) == 1


def test_kubernetes_executor_on_airflow_of_the_image(values):
    assert values["executor"] == "KubernetesExecutor"
    base_image = re.search(r"^FROM apache/airflow:(\S+)-python", (REPO_ROOT / "Dockerfile").read_text(), re.M)
    assert base_image and values["airflowVersion"] == base_image.group(1)  # the chart renders for this version


def _unknown_keys(node, known, path=()) -> list[str]:
    if known is None or not isinstance(node, dict):
        return []
    unknown = []
    for key, value in node.items():
        if key not in known:
            unknown.append(".".join((*path, key)))
        else:
            unknown += _unknown_keys(value, known[key], (*path, key))
    return unknown


def test_values_use_only_keys_the_chart_knows(values):
    # The chart's schema rejects unknown keys at install; this catches them before there is a cluster.
    assert _unknown_keys(values, CHART_KEYS) == []
    # The pod template is its own file, handed over with --set-file: not a second copy in the values.
    assert "podTemplate" not in values


def test_airflow_config_options_exist(values):
    spec = importlib.util.find_spec("airflow")
    [config_yml] = [Path(p) / "config_templates" / "config.yml" for p in spec.submodule_search_locations
                    if (Path(p) / "config_templates" / "config.yml").exists()]
    airflow_options = {section: set((body or {}).get("options") or {})
                       for section, body in yaml.safe_load(config_yml.read_text()).items()}
    # Cosmos reads its section with conf.get*("cosmos", "<option>") in cosmos/settings.py: those are its options.
    cosmos_settings = Path(importlib.util.find_spec("cosmos.settings").origin).read_text()
    cosmos_options = set(re.findall(r"""conf\.get\w*\(\s*["']cosmos["'],\s*["'](\w+)["']""", cosmos_settings))
    assert "enable_watcher_reliable_retry" in cosmos_options
    known = {**airflow_options, **PROVIDER_OPTIONS, "cosmos": cosmos_options}
    for section, options in values["config"].items():
        assert section in known, f"[{section}] is no section of Airflow's configuration"
        assert set(options) <= known[section], (section, set(options) - known[section])
    assert values["config"]["core"]["default_timezone"] == "Asia/Shanghai"
    assert values["config"]["core"]["dags_folder"] == "/opt/halfsky/dags"  # where the Dockerfile bakes them


def test_image_is_halfskys_and_the_pod_template_runs_it(values, base):
    image = values["images"]["airflow"]
    repository, tag = image["repository"], image["tag"]
    assert repository and tag and isinstance(tag, str)
    assert not repository.startswith(("apache/airflow", "docker.io/apache/airflow"))
    assert (values["defaultAirflowRepository"], values["defaultAirflowTag"]) == (repository, tag)
    assert _render(base["image"], values) == f"{repository}:{tag}"


def test_pod_template_expressions_resolve(values):
    # Every `.Values.` expression names a key values.yaml has; the others are chart helpers kept as they are.
    expressions = TEMPLATE_EXPRESSION.findall(POD_TEMPLATE.read_text())
    assert expressions
    for expression in expressions:
        expression = expression.strip()
        if expression.startswith(".Values."):
            _value_path(values, expression)
        else:
            assert expression in {".Release.Name", 'include "airflow_config" .'}, expression


def test_pod_template_is_a_valid_executor_base(pod, base):
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert [c["name"] for c in spec["containers"]] == ["base"]
    mounts = {m["mountPath"]: m for m in base["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert {m["name"] for m in base["volumeMounts"]} <= set(volumes)
    assert mounts["/opt/airflow/airflow.cfg"]["subPath"] == "airflow.cfg"  # the Execution API URL, remote logging
    assert "configMap" in volumes[mounts["/opt/airflow/airflow.cfg"]["name"]]
    # Every place halfsky writes is a volume: the root file system is read-only.
    assert base["securityContext"]["readOnlyRootFilesystem"] is True
    assert _env(base["env"])["HALFSKY_HOME"]["value"].startswith("/tmp/")
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]] and "emptyDir" in volumes[mounts["/opt/airflow/logs"]["name"]]


def test_everything_runs_as_the_images_airflow_user(values, pod, base):
    for context in (values["securityContexts"]["pod"], pod["spec"]["securityContext"]):
        assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"]) == (50000, 0, 0)
        assert context["runAsNonRoot"] is True
    assert (values["uid"], values["gid"]) == (50000, 0)
    for context in (values["securityContexts"]["containers"], base["securityContext"]):
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
    assert pod["spec"]["automountServiceAccountToken"] is False


def test_worker_resources_have_requests_and_limits(base):
    resources = base["resources"]
    for kind in ("cpu", "memory"):
        assert resources["requests"][kind] and resources["limits"][kind]
    # A drop at the 200 MB limit must fit: the memory limit is no smaller than 2 GiB.
    assert resources["limits"]["memory"].endswith("Gi") and int(resources["limits"]["memory"][:-2]) >= 2


def test_bundled_databases_off_and_metadata_from_a_secret(values):
    assert values["postgresql"]["enabled"] is False
    assert values["redis"]["enabled"] is False
    assert values["data"]["metadataSecretName"]
    assert values["dags"]["gitSync"]["enabled"] is False and values["dags"]["persistence"]["enabled"] is False
    assert values["createUserJob"]["enabled"] is False  # FAB's CLI; the simple auth manager has none
    assert values["config"]["logging"]["remote_logging"] == "True" and values["logs"]["persistence"]["enabled"] is False


@pytest.mark.parametrize("name", sorted(TELEMETRY_OFF))
def test_telemetry_is_off_in_both_files(values, base, name):
    assert _env(values["env"])[name]["value"] == TELEMETRY_OFF[name]
    assert _env(base["env"])[name]["value"] == TELEMETRY_OFF[name]


def test_the_dag_processor_and_the_task_pods_agree_on_the_ingest_slots(values, base):
    """The dag-processor caps nightly_load's ingest task to HALFSKY_INGEST_SLOTS, and discover_drops, in a task
    pod, rounds the batches to it: one value in both files, and no more than the pods the scheduler runs."""
    slots = _env(values["env"])["HALFSKY_INGEST_SLOTS"]["value"]
    assert _env(base["env"])["HALFSKY_INGEST_SLOTS"]["value"] == slots
    assert 1 <= int(slots) <= int(values["config"]["core"]["parallelism"])


def _literal_secrets(node, path=()) -> list[str]:
    """Paths under which a secret-sounding key holds a literal, in mappings and in env lists."""
    found = []
    if isinstance(node, dict):
        if "name" in node and ("value" in node or "valueFrom" in node):  # an env entry
            if SECRETISH.search(str(node["name"])) and "value" in node:
                found.append(".".join((*path, str(node["name"]))))
            return found
        for key, value in node.items():
            if key in ("secretKeyRef", "secretRef"):
                continue  # the reference itself
            here = (*path, str(key))
            if (SECRETISH.search(str(key)) and isinstance(value, (str, int)) and not isinstance(value, bool)
                    and str(value) and not str(key).lower().endswith(REFERENCE_SUFFIXES)):
                found.append(".".join(here))
            found += _literal_secrets(value, here)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += _literal_secrets(item, (*path, str(index)))
    return found


def test_no_literal_secret_in_either_file(values, pod, base):
    assert _literal_secrets(values) == []
    assert _literal_secrets(pod) == []
    # What the chart puts in every container comes from Secrets too.
    assert all(entry["secretName"] and entry["secretKey"] for entry in values["secret"])
    for entry in yaml.safe_load(values["extraEnvFrom"]) + base["envFrom"]:
        assert set(entry) == {"secretRef"}, entry
    # halfsky's own secrets reach the task pods, from Secrets.
    env = _env(base["env"])
    for name in ("AIRFLOW_CONN_WAREHOUSE_DB", "HALFSKY_PERSON_HMAC_KEY", "HALFSKY_ANALYST_PASSWORD",
                 "AIRFLOW_CONN_HALFSKY_OBJECT_STORE", "AIRFLOW_CONN_HALFSKY_LOGS"):
        assert env[name]["valueFrom"]["secretKeyRef"]["key"], name


def test_the_secret_check_catches_a_literal():
    leaky = {"fernetKey": "x" * 44, "data": {"metadataConnection": {"pass": "postgres"}},
             "env": [{"name": "HALFSKY_PERSON_HMAC_KEY", "value": "k" * 32}],
             "config": {"core": {"simple_auth_manager_passwords_file": "/opt/airflow/auth/p.json"}}}
    assert _literal_secrets(leaky) == ["fernetKey", "data.metadataConnection.pass", "env.0.HALFSKY_PERSON_HMAC_KEY"]


def test_every_secret_the_files_name_is_created_in_the_doc(values, pod):
    doc = DOC.read_text()
    names = {values["data"]["metadataSecretName"], values["fernetKeySecretName"], values["apiSecretKeySecretName"],
             values["jwtSecretName"], *(entry["secretName"] for entry in values["secret"])}
    names |= {volume["secret"]["secretName"] for volume in values["apiServer"]["extraVolumes"] if "secret" in volume}
    names |= set(re.findall(r"name: (halfsky-[a-z-]+)", values["extraEnvFrom"] + POD_TEMPLATE.read_text()))
    for name in names:
        assert re.search(rf"\$N {re.escape(name)} ", doc), f"docs/kubernetes.md does not create Secret {name}"
    for key in re.findall(r"key: ([a-z-]+)", POD_TEMPLATE.read_text()):
        assert f"--from-literal={key}=" in doc, key


def test_doc_installs_this_chart_version_with_both_files():
    doc = DOC.read_text()
    assert f"--version {CHART_VERSION}" in doc
    assert f"Chart version {CHART_VERSION}" in VALUES.read_text()
    assert "-f deploy/kubernetes/values.yaml --set-file podTemplate=deploy/kubernetes/pod_template.yaml" in doc
