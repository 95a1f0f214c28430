"""Shared fixtures: a real ``redis-server`` per session, a clean database per test."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.redis_server import RedisServer

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
