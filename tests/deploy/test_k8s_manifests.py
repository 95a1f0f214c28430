"""The Kubernetes manifests in deploy/k8s, checked without a cluster: every document parses
and validates against the Kubernetes API schemas (kubernetes-validate, offline), and what
they say matches what the image and the code do."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy import manifests as m

# Oldest Kubernetes we claim (PDB unhealthyPodEvictionPolicy, Job podFailurePolicy) and the
# newest the validator knows.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
NOT_IN_CORE_SCHEMAS = {"ScaledObject", "TriggerAuthentication", "Kustomization"}
# KEDA redis-streams trigger metadata (https://keda.sh/docs/latest/scalers/redis-streams/).
KEDA_REDIS_STREAMS_KEYS = {
    "address", "host", "port", "addressFromEnv", "hostFromEnv", "portFromEnv",
    "usernameFromEnv", "passwordFromEnv", "stream", "consumerGroup", "pendingEntriesCount",
    "streamLength", "lagCount", "activationLagCount", "enableTLS", "unsafeSsl", "databaseIndex",
}  # fmt: skip
DOCUMENTS = list(m.k8s_documents())


def _config() -> dict[str, str]:
    data: dict[str, str] = m.k8s_object("ConfigMap", "ingest-config")["data"]
    return data


def _deployment() -> dict[str, Any]:
    return m.k8s_object("Deployment", "ingest-worker")


def _worker() -> dict[str, Any]:
    return m.container(_deployment(), "worker")


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def test_every_file_holds_named_namespace_free_documents() -> None:
    files = {path for path, _ in DOCUMENTS}

    assert files == set(m.K8S_DIR.glob("*.yaml"))
    for path, doc in DOCUMENTS:
        assert {"apiVersion", "kind"} <= doc.keys(), path.name
        if doc["kind"] != "Kustomization":
            assert doc["metadata"]["name"], path.name
            assert "namespace" not in doc["metadata"], f"{path.name} pins a namespace"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(
    ("path", "doc"),
    [(p, d) for p, d in DOCUMENTS if d["kind"] not in NOT_IN_CORE_SCHEMAS],
    ids=lambda value: value.name if isinstance(value, Path) else "",
)
def test_manifest_validates_against_the_kubernetes_schema(
    path: Path, doc: dict[str, Any], version: str
) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


def test_kustomization_lists_existing_files_and_no_secret() -> None:
    kustomization = yaml.safe_load((m.K8S_DIR / "kustomization.yaml").read_text())

    for resource in kustomization["resources"]:
        assert (m.K8S_DIR / resource).is_file(), resource
    assert "secret.example.yaml" not in kustomization["resources"]


def test_probes_hit_the_worker_paths_on_the_http_port() -> None:
    worker = _worker()
    ports = {port["name"]: port["containerPort"] for port in worker["ports"]}
    annotations = _deployment()["spec"]["template"]["metadata"]["annotations"]

    assert ports["http"] == int(_config()["INGEST_HTTP_PORT"])
    assert worker["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert worker["startupProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert annotations["prometheus.io/port"] == _config()["INGEST_HTTP_PORT"]
    assert annotations["prometheus.io/path"] == "/metrics"


def test_the_consumer_name_is_the_pod_name() -> None:
    consumer = _env(_worker())["INGEST_CONSUMER"]

    assert consumer["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert "INGEST_CONSUMER" not in _config()


def test_grace_period_exceeds_the_shutdown_timeout() -> None:
    grace_s = _deployment()["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    shutdown_s = m.option_for("INGEST_SHUTDOWN_TIMEOUT").parse(_config()["INGEST_SHUTDOWN_TIMEOUT"])

    assert grace_s >= shutdown_s + 10


@pytest.mark.parametrize(("kind", "key"), [("Deployment", "worker-password"),
                                           ("Job", "producer-password")])  # fmt: skip
def test_settings_come_from_the_config_map_and_the_password_from_a_secret_file(
    kind: str, key: str
) -> None:
    owner = m.k8s_object(kind)
    container = owner["spec"]["template"]["spec"]["containers"][0]
    env = _env(container)
    secret = m.k8s_object("Secret", "ingest-redis")

    assert container["envFrom"] == [{"configMapRef": {"name": "ingest-config"}}]
    assert "INGEST_REDIS_URL" not in _config()
    assert "REDIS_PASSWORD" not in env  # no password in the environment
    assert env["REDIS_ADDRESS"]["valueFrom"]["secretKeyRef"]["key"] in secret["stringData"]
    url = env["INGEST_REDIS_URL"]["value"]
    assert m.option_for("INGEST_REDIS_URL").parse(url) == url
    assert ":" not in url.removeprefix("redis://").split("@")[0]  # a user, no password
    # The password file is a key of the Secret, mounted read-only where the variable points.
    path = env["INGEST_REDIS_PASSWORD_FILE"]["value"]
    mount = next(v for v in container["volumeMounts"] if path.startswith(v["mountPath"] + "/"))
    assert mount["readOnly"] is True
    volume = next(v for v in owner["spec"]["template"]["spec"]["volumes"]
                  if v["name"] == mount["name"])  # fmt: skip
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    assert volume["secret"]["items"] == [{"key": key, "path": path.rsplit("/", 1)[1]}]
    assert key in secret["stringData"]


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_variable_references_name_variables_defined_earlier(kind: str) -> None:
    # Kubernetes expands $(NAME) only for variables defined before it (or via envFrom).
    owner = m.k8s_object(kind)
    for container in owner["spec"]["template"]["spec"]["containers"]:
        defined = set(_config())
        for item in container.get("env", []):
            for name in re.findall(r"\$\((\w+)\)", item.get("value", "")):
                assert name in defined, f"{item['name']} refers to {name} before it is set"
            defined.add(item["name"])


def test_resources_and_security_context() -> None:
    worker = _worker()
    pod = _deployment()["spec"]["template"]["spec"]

    assert set(worker["resources"]["requests"]) == {"cpu", "memory"}
    assert set(worker["resources"]["limits"]) == {"cpu", "memory"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert worker["securityContext"]["readOnlyRootFilesystem"] is True
    assert worker["securityContext"]["allowPrivilegeEscalation"] is False
    assert worker["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_pod_user_and_writable_paths_match_the_image() -> None:
    dockerfile = m.parse_dockerfile(m.DOCKERFILE.read_text())
    runtime = m.final_stage(dockerfile)
    uid = next(ins.args for ins in runtime if ins.keyword == "USER").split(":")[0]
    image_env: dict[str, str] = {}
    for ins in runtime:
        if ins.keyword == "ENV":
            image_env.update(m.env_pairs(ins.args))
    sink_dir = str(Path(image_env["INGEST_SINK"].removeprefix("sqlite:///")).parent)
    mounts = {mount["mountPath"] for mount in _worker()["volumeMounts"]}

    assert _deployment()["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(uid)
    # The root filesystem is read-only: the sink's directory and /tmp must be volumes.
    assert {sink_dir, "/tmp"} <= mounts


def test_disruption_budget_selects_the_worker_pods() -> None:
    pdb = m.k8s_object("PodDisruptionBudget")
    labels = _deployment()["spec"]["template"]["metadata"]["labels"]

    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1


def test_keda_scales_the_deployment_on_the_groups_backlog() -> None:
    scaled = m.k8s_object("ScaledObject")
    env = _env(_worker())
    triggers = scaled["spec"]["triggers"]

    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == _deployment()["metadata"]["name"]
    assert {t["type"] for t in triggers} == {"redis-streams"}
    modes = set()
    for trigger in triggers:
        meta = trigger["metadata"]
        assert set(meta) <= KEDA_REDIS_STREAMS_KEYS, set(meta) - KEDA_REDIS_STREAMS_KEYS
        assert meta["stream"] == _config()["INGEST_STREAM"]
        assert meta["consumerGroup"] == _config()["INGEST_GROUP"]
        assert meta["addressFromEnv"] in env
        assert "passwordFromEnv" not in meta  # the observer's password, not the worker's env
        auth = m.k8s_object("TriggerAuthentication", trigger["authenticationRef"]["name"])
        secret = m.k8s_object("Secret", "ingest-redis")
        refs = {r["parameter"]: r for r in auth["spec"]["secretTargetRef"]}
        assert set(refs) == {"username", "password"}
        assert all(r["key"] in secret["stringData"] for r in refs.values())
        assert all(isinstance(value, str) for value in meta.values()), "KEDA wants strings"
        modes |= set(meta) & {"lagCount", "pendingEntriesCount"}
    # lag (not yet delivered) + pending (delivered, not acked) = the backlog.
    assert modes == {"lagCount", "pendingEntriesCount"}
    assert 1 <= scaled["spec"]["minReplicaCount"] < scaled["spec"]["maxReplicaCount"]


def test_produce_job_runs_the_producer_on_the_bundled_file() -> None:
    job = m.k8s_object("Job")
    produce = m.container(job, "produce")
    data_file = produce["args"][produce["args"].index("--input") + 1]
    rules = job["spec"]["podFailurePolicy"]["rules"]

    assert produce["command"] == ["python", "-m", "ingest.produce"]
    assert data_file.startswith("/app/data/")
    assert (m.ROOT / "data" / data_file.removeprefix("/app/data/")).is_file()
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert produce["envFrom"] == _worker()["envFrom"]
    # Rejected lines (1) and configuration errors (2) fail at once; 3 and 4 are retried.
    assert rules == [
        {
            "action": "FailJob",
            "onExitCodes": {"containerName": "produce", "operator": "In", "values": [1, 2]},
        }
    ]
