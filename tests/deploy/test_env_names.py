"""Every ``INGEST_*`` name the deployment files set is a variable the code reads, and the
values they set are ones the code accepts (together, not only one by one)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from ingest.settings import ProducerSettings
from tests.deploy import manifests as m
from workers.settings import WorkerSettings

DEPLOY_FILES = sorted(
    [
        m.DOCKERFILE,
        m.COMPOSE,
        *m.SYSTEMD_DIR.iterdir(),
        *m.K8S_DIR.glob("*.yaml"),
    ]
)


@pytest.mark.parametrize("path", DEPLOY_FILES, ids=lambda p: str(p.relative_to(m.ROOT)))
def test_every_ingest_name_is_read_by_the_code(path: Path) -> None:
    known = set(m.code_variables()) | m.OTHER_VARIABLES

    names = set(m.INGEST_NAME.findall(path.read_text()))

    assert names - known == set()


def test_the_deployment_files_name_the_important_settings() -> None:
    # Guards the test above against a regex that matches nothing.
    names = set().union(*(m.INGEST_NAME.findall(p.read_text()) for p in DEPLOY_FILES))

    assert {"INGEST_REDIS_URL", "INGEST_CONSUMER", "INGEST_SHUTDOWN_TIMEOUT"} <= names
    assert {"INGEST_HTTP_PORT", "INGEST_MAXLEN", "INGEST_HIGH_WATER"} <= names


def _check_settings(environ: dict[str, str]) -> None:
    for variable, value in environ.items():
        if variable.startswith("INGEST_") and variable in m.code_variables():
            m.option_for(variable).parse(value)
    worker = WorkerSettings.from_sources(None, environ)
    producer = ProducerSettings.from_sources(None, environ)
    assert worker.stream == producer.stream
    assert worker.group == producer.group


def test_env_example_values_build_worker_and_producer_settings() -> None:
    _check_settings(m.parse_env_file(m.ENV_EXAMPLE))


def test_config_map_values_build_worker_and_producer_settings() -> None:
    data = m.k8s_object("ConfigMap", "ingest-config")["data"]

    _check_settings({**data, "INGEST_REDIS_URL": "redis://:pw@redis:6379/0"})


def test_compose_worker_environment_builds_worker_settings() -> None:
    compose = yaml.safe_load(m.COMPOSE.read_text())
    workers = [
        service
        for service in compose["services"].values()
        if service.get("build") and "entrypoint" not in service
    ]

    assert len(workers) >= 2
    for service in workers:
        environ = {key: str(value) for key, value in service["environment"].items()}
        assert WorkerSettings.from_sources(None, environ).http_port > 0


def test_env_example_values_are_the_defaults_unless_marked() -> None:
    lines = m.ENV_EXAMPLE.read_text().splitlines()
    marked = {
        line.partition("=")[0]
        for before, line in itertools.pairwise(lines)
        if "not the default" in before.lower() and "=" in line
    }
    values = m.parse_env_file(m.ENV_EXAMPLE)

    assert marked == {"INGEST_REDIS_URL"}
    for variable, value in values.items():
        option = m.option_for(variable)
        if variable not in marked:
            assert option.parse(value) == option.default, variable
