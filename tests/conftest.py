"""Shared fixtures: a real ``redis-server`` per session, a clean database per test."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from faults import FaultProxy
from tests.cluster import LocalCluster
from tests.redis_server import RedisServer, live_servers, server_binary, server_kind
from tests.sentinel import SentinelDeployment

ROOT = Path(__file__).resolve().parent.parent
DEMO_CSV = ROOT / "data" / "sea_surface_temperature.csv.gz"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the session (persistence off). Fails, never skips, if missing."""
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """URL of the session server, emptied (FLUSHALL and FUNCTION FLUSH) before each test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.function_flush()
    client.config_set("maxmemory-policy", "noeviction")
    client.close()
    yield redis_server.url


@pytest.fixture
def make_redis_server() -> Iterator[Callable[..., RedisServer]]:
    """Factory of extra private servers (AOF on, other config); all stopped after the test."""
    servers: list[RedisServer] = []

    def make(**kwargs: object) -> RedisServer:
        server = RedisServer(**kwargs)  # type: ignore[arg-type]
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.cleanup()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """A ``redis.Redis`` (``decode_responses=True``) on the clean test database."""
    c = redis.Redis.from_url(redis_url, decode_responses=True)
    yield c
    c.close()


@pytest.fixture
def subprocess_env(tmp_path: Path) -> dict[str, str]:
    """Environment for child ``python -m ...`` processes: this interpreter's, repo on path, and
    the default SQLite sink under ``tmp_path`` (tests write only there, never ``./ingest.db``)."""
    env = dict(os.environ)
    env["INGEST_SINK"] = f"sqlite:///{tmp_path / 'default-sink.db'}"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("OTEL_TRACES_EXPORTER", None)
    env["PYTHONUNBUFFERED"] = "1"
    env["INGEST_PYTHON"] = sys.executable
    return env


def pytest_report_header() -> str:
    """Name the server binary every real-server fixture runs (``INGEST_TEST_SERVER``)."""
    try:
        binary = server_binary()
    except RuntimeError as exc:
        return f"redis server: unavailable ({exc})"
    return f"redis server: {server_kind()} ({binary})"


@pytest.fixture(scope="session", autouse=True)
def _no_orphaned_servers() -> Iterator[None]:
    """After every other session fixture is torn down, no server started by
    ``tests/redis_server.py`` may still run: each fixture stops what it starts, by PID."""
    yield
    leftovers = live_servers()
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not leftovers, f"servers left running after the session (now killed): {leftovers}"


@pytest.fixture(scope="session")
def cluster_servers() -> Iterator[LocalCluster]:
    """A 3-primary + 3-replica cluster for the whole session, started on first use only
    (about 3 s; :attr:`LocalCluster.startup_s`). Use :func:`cluster` in tests."""
    local = LocalCluster()
    local.start()
    yield local
    local.stop()


@pytest.fixture
def cluster(cluster_servers: LocalCluster) -> Iterator[LocalCluster]:
    """The session cluster healed (killed nodes restarted, paused ones resumed, unfinished
    slot migrations settled) and emptied (FLUSHALL, FUNCTION FLUSH) before the test; its
    clients closed after."""
    cluster_servers.reset()
    yield cluster_servers
    cluster_servers.close_clients()


@pytest.fixture
def make_sentinel() -> Iterator[Callable[..., SentinelDeployment]]:
    """Factory of started Sentinel deployments (``replicas=1|2``; about 1.2 s each with
    redis-server, 2.4 s with Valkey); all stopped by PID after the test."""
    deployments: list[SentinelDeployment] = []

    def make(**kwargs: Any) -> SentinelDeployment:
        deployment = SentinelDeployment(**kwargs)
        deployments.append(deployment)
        deployment.start()
        return deployment

    yield make
    for deployment in deployments:
        deployment.stop()


@pytest.fixture
def sentinel(make_sentinel: Callable[..., SentinelDeployment]) -> SentinelDeployment:
    """A fresh primary + 1 replica + 3 sentinels (quorum 2) for this test."""
    return make_sentinel()


@pytest.fixture
def make_fault_proxy() -> Iterator[Callable[[int], FaultProxy]]:
    """Factory of started :class:`faults.FaultProxy` instances in front of a loopback port;
    all stopped after the test."""
    proxies: list[FaultProxy] = []

    def make(target_port: int) -> FaultProxy:
        proxy = FaultProxy(target_port).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()


@pytest.fixture
def fault_proxy(
    redis_url: str, redis_server: RedisServer, make_fault_proxy: Callable[[int], FaultProxy]
) -> FaultProxy:
    """A pass-through proxy in front of the session server (emptied for this test); its URL
    is ``fault_proxy.url``."""
    return make_fault_proxy(redis_server.port)
