"""compose.yaml parses and wires Redis, Jaeger, two workers and a producer as documented."""

from __future__ import annotations

from typing import Any

import yaml

from tests.conftest import ROOT


def load() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def test_redis_has_aof_noeviction_and_a_healthcheck():
    redis = load()["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert "redis-cli" in redis["healthcheck"]["test"]


def test_jaeger_exposes_the_ui_and_otlp():
    ports = load()["services"]["jaeger"]["ports"]
    assert {"16686:16686", "4317:4317", "4318:4318"} <= set(ports)


def test_two_workers_export_traces_to_jaeger_and_serve_metrics():
    services = load()["services"]
    workers = [s for name, s in services.items() if name.startswith("worker-")]
    assert len(workers) == 2
    host_ports = set()
    for worker in workers:
        env = worker["environment"]
        assert worker["build"] == "."
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
        assert env["OTEL_SERVICE_NAME"] == "ingest-worker"
        assert env["INGEST_REDIS_URL"] == "redis://redis:6379/0"
        assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
        host_ports.add(worker["ports"][0].split(":")[-2])
        assert worker["ports"][0].endswith(":" + env["INGEST_HTTP_PORT"])
    assert len(host_ports) == 2


def test_producer_sends_the_bundled_file_on_demand():
    producer = load()["services"]["producer"]
    assert producer["profiles"] == ["produce"]
    assert producer["entrypoint"] == ["python", "-m", "ingest.produce"]
    assert "/app/data/sea_surface_temperature.csv.gz" in producer["command"]
    assert producer["environment"]["OTEL_SERVICE_NAME"] == "ingest-producer"
    assert (ROOT / "data" / "sea_surface_temperature.csv.gz").exists()
