"""The worker's HTTP server: /metrics in Prometheus text format, /livez, /readyz."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import redis
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from ingest import metrics as m
from ingest.settings import RedisSettings
from tests.helpers import wait_for
from tests.observability.test_metrics import FakeWorkerStats
from workers.http import HttpServer, redis_ready_check, start_http_server


def get(server: HttpServer, path: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{server.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def ok() -> tuple[bool, str]:
    return True, "fine"


@pytest.fixture
def servers() -> Iterator[list[HttpServer]]:
    started: list[HttpServer] = []
    yield started
    for server in started:
        server.shutdown()


def test_metrics_endpoint_serves_prometheus_text(servers):
    # Given: a worker's counters observed through a Prometheus reader on a private registry
    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    stats = FakeWorkerStats(acked=41, dead_lettered=1)
    m.register_worker_metrics(
        stats, stream="ingest:events", group="workers", meter_provider=provider
    )
    servers.append(start_http_server(0, live=ok, ready=ok, registry=registry, host="127.0.0.1"))
    stats.acked += 1
    # When: scraped
    status, text = get(servers[0], "/metrics")
    # Then: the Prometheus parser reads the current values
    assert status == 200
    values = {
        (s.name, s.labels.get("group")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert values[("ingest_worker_acked_total", "workers")] == 42
    assert values[("ingest_worker_dead_lettered_total", "workers")] == 1
    provider.shutdown()


def test_probes_return_200_or_503_with_the_detail(servers):
    state = {"live": (True, "loops running"), "ready": (False, "group missing")}

    def boom() -> tuple[bool, str]:
        raise RuntimeError("redis://u:pw@h/0 exploded")

    servers.append(
        start_http_server(
            0, live=lambda: state["live"], ready=lambda: state["ready"], host="127.0.0.1"
        )
    )
    assert get(servers[0], "/livez") == (200, "loops running\n")
    assert get(servers[0], "/readyz") == (503, "group missing\n")
    state["live"] = (False, "reader stale for 31.0 s")
    assert get(servers[0], "/livez") == (503, "reader stale for 31.0 s\n")
    assert get(servers[0], "/nope")[0] == 404
    servers.append(start_http_server(0, live=boom, ready=ok, host="127.0.0.1"))
    status, body = get(servers[1], "/livez")
    assert status == 503
    assert "RuntimeError" in body
    assert "pw" not in body


def test_readyz_needs_the_group_and_fails_when_redis_stops(make_redis_server, servers):
    # Given: a private Redis with the stream but no group yet
    server = make_redis_server()
    client = redis.Redis.from_url(server.url, decode_responses=True)
    client.xadd("ingest:events", {"f": "v"})
    check = redis_ready_check(RedisSettings(redis_url=server.url), "ingest:events", "workers")
    servers.append(start_http_server(0, live=ok, ready=check, host="127.0.0.1"))
    status, body = get(servers[0], "/readyz")
    assert status == 503
    assert "group 'workers' does not exist" in body
    # When: the group exists
    client.xgroup_create("ingest:events", "workers", id="0")
    assert get(servers[0], "/readyz")[0] == 200
    client.close()
    # When: Redis stops
    server.stop()
    # Then: /readyz fails (the probe's own client times out within about a second)
    failed = wait_for(lambda: (r := get(servers[0], "/readyz"))[0] == 503 and r[1], 10)
    assert "unreachable" in str(failed)
