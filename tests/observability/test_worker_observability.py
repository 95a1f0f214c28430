"""workers.observability: probes from the runner's health, the state sampler, /metrics wiring."""

from __future__ import annotations

import socket
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import redis
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from ingest.settings import RedisSettings
from ingest.state_gauges import StateHolder
from tests.helpers import wait_for
from workers.liveness import Liveness
from workers.observability import StateSampler, WorkerObservability, live_check, ready_check
from workers.settings import WorkerSettings
from workers.slots import Dispatch
from workers.stats import Health, Hooks, Stats


@dataclass
class FakeRunner:
    """The runner attributes the observability layer reads."""

    stats: Stats = field(default_factory=Stats)
    health: Health = field(default_factory=Health)
    hooks: Hooks = field(default_factory=Hooks)
    dispatch: Dispatch = field(default_factory=lambda: Dispatch(1, 1))
    liveness: Liveness = field(init=False)

    def __post_init__(self) -> None:
        self.liveness = Liveness(self.health, self.dispatch, 30, 180)


def test_livez_from_health():
    runner = FakeRunner()
    check = live_check(runner)  # type: ignore[arg-type]
    assert check() == (True, "starting")
    runner.health.joined = runner.health.connected = True
    runner.health.beat("read")
    runner.health.beat("claim")
    assert check() == (True, "loops running")
    # A wedged read loop while Redis answers: not live
    runner.health.beats["read"] = time.monotonic() - 60
    assert check() == (False, "no step for over 30 s: read")
    # ... unless it waits for a free handler slot
    runner.dispatch.slots[0].items = [object()]  # type: ignore[list-item]
    assert check()[0] is True
    # ... but a slot running one call past the handler timeout is stuck: not live
    runner.dispatch.slots[0].call_started = time.monotonic() - 200
    assert check() == (False, "every handler slot stuck past --handler-timeout 180 s")
    # Redis down: the loops retry; restarting would not help
    runner.dispatch.slots[0].items = []
    runner.dispatch.slots[0].call_started = None
    runner.health.connected = False
    assert check() == (True, "redis unreachable; loops retrying")


def test_readyz_waits_for_the_group_join():
    runner = FakeRunner()
    check = ready_check(runner, lambda: (True, "connected"))  # type: ignore[arg-type]
    assert check() == (False, "starting: not yet joined the consumer group")
    runner.health.joined = runner.health.connected = True
    assert check() == (True, "connected")


def test_readyz_waits_for_the_loops_to_reconnect_after_an_outage():
    # Given: a joined worker whose loops saw a connection error
    runner = FakeRunner()
    runner.health.joined = True
    runner.health.connected = False
    redis_answer = [(False, "redis redis://localhost:6379/0 unreachable: ConnectionError")]
    check = ready_check(runner, lambda: redis_answer[0])  # type: ignore[arg-type]
    # Then: while Redis is down, the probe's own answer is reported
    assert check() == redis_answer[0]
    # When: Redis answers the probe again but the loops are still in backoff
    redis_answer[0] = (True, "connected; group 'workers' exists")
    # Then: not ready yet
    assert check() == (False, "redis reachable; worker loops reconnecting (backoff)")
    # When: a loop's command succeeds
    runner.health.connected = True
    assert check() == (True, "connected; group 'workers' exists")


def test_sampler_withdraws_the_state_while_redis_is_away(make_redis_server):
    # Given: a sampler that has sampled a stream once
    server = make_redis_server()
    client = redis.Redis.from_url(server.url, decode_responses=True)
    client.xadd("s", {"f": "v"})
    client.xgroup_create("s", "g", id="0")
    client.close()
    holder = StateHolder(max_age_s=60)
    sampler = StateSampler(RedisSettings(redis_url=server.url), "s", "g", holder, 60)
    try:
        sampler.sample_once()
        first = holder.current()
        assert first is not None
        assert first.group("g") is not None
        # When: Redis goes away and the next sample fails
        server.stop()
        sampler.sample_once()  # logs a warning
        # Then: nothing is served (the last good sample is kept only for inspection)
        assert holder.current() is None
        assert holder.state is first
        # When: Redis is back (empty: this server keeps no AOF)
        server.start()
        sampler.sample_once()
        # Then: a fresh sample is served again
        again = holder.current()
        assert again is not None
        assert again is not first
        assert again.exists is False
    finally:
        sampler.stop()


def _scrape(port: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


def test_metrics_endpoint_drops_the_state_gauges_during_an_outage(make_redis_server):
    # Given: a worker's /metrics with a sampled group on a private server
    server = make_redis_server()
    client = redis.Redis.from_url(server.url, decode_responses=True)
    client.xadd("ingest:events", {"n": "1"})
    client.xgroup_create("ingest:events", "workers", id="0")
    client.close()
    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    port = free_port()
    settings = WorkerSettings(redis=RedisSettings(redis_url=server.url), http_port=port)
    runner: Any = FakeRunner()
    observability = WorkerObservability(
        settings, runner, registry, sample_interval_s=0.05, meter_provider=provider
    )
    observability.start()
    try:
        wait_for(lambda: "ingest_group_backlog" in _scrape(port), 5, what="first sample")
        # When: Redis stops
        server.stop()

        # Then: the group and stream gauges disappear, the sample age stays and grows
        def withdrawn() -> dict[str, float] | None:
            values = _scrape(port)
            return None if "ingest_group_backlog" in values else values

        values = wait_for(withdrawn, 10, what="gauges withdrawn")
        assert values is not None
        assert "ingest_stream_length" not in values
        assert "ingest_group_lag" not in values
        age = values["ingest_worker_state_sample_age_seconds"]
        wait_for(
            lambda: _scrape(port)["ingest_worker_state_sample_age_seconds"] > age,
            5,
            what="age growing",
        )
    finally:
        observability.close()
        provider.shutdown()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_metrics_endpoint_of_a_worker_with_sampled_gauges(client, redis_url):
    # Given: a stream with 5 entries, 2 delivered to the group and not acknowledged
    for i in range(5):
        client.xadd("ingest:events", {"n": str(i)})
    client.xgroup_create("ingest:events", "workers", id="0")
    client.xreadgroup("workers", "c1", {"ingest:events": ">"}, count=2)
    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    port = free_port()
    settings = WorkerSettings(redis=RedisSettings(redis_url=redis_url), http_port=port)
    runner: Any = FakeRunner()
    runner.stats.acked = 12
    observability = WorkerObservability(
        settings, runner, registry, sample_interval_s=0.05, meter_provider=provider
    )
    # When: started, sampled once, and scraped
    observability.start()
    try:
        assert runner.hooks.handler_duration is not None  # histograms hooked up
        sampler = observability.sampler
        assert sampler is not None
        wait_for(lambda: sampler.holder.state is not None, 5, what="first sample")
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            text = reply.read().decode()
    finally:
        observability.close()
        provider.shutdown()
    # Then: counters from the runner's stats, gauges from the sample
    values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert values["ingest_worker_acked_total"] == 12
    assert values["ingest_group_backlog"] == 5
    assert values["ingest_group_lag"] == 3
    assert values["ingest_group_pending"] == 2
    assert values["ingest_group_consumers"] == 1
    assert values["ingest_stream_length"] == 5
    assert values["ingest_stream_dead_letter_length"] == 0
    assert observability.server is None
