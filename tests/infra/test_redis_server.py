"""The private server helper (tests/redis_server.py): binary choice and stop-by-PID."""

from __future__ import annotations

import os

import pytest

from tests.redis_server import RedisServer, live_servers, server_binary, server_kind

pytestmark = pytest.mark.redis


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("kind", ["redis", "valkey"])
def test_each_binary_starts_and_reports_its_server(kind):
    server = RedisServer(binary=kind)
    server.start()
    try:
        info = server.client(decode_responses=True).info("server")
        assert ("valkey_version" in info) == (kind == "valkey")
    finally:
        server.cleanup()


def test_session_switch_picks_the_binary(monkeypatch):
    monkeypatch.setenv("INGEST_TEST_SERVER", "valkey")
    assert server_binary().endswith("valkey-server")
    monkeypatch.setenv("INGEST_TEST_SERVER", "redis")
    assert server_binary().endswith("redis-server")
    monkeypatch.setenv("INGEST_TEST_SERVER", "keydb")
    with pytest.raises(RuntimeError, match="expected one of redis, valkey"):
        server_kind()


def test_a_paused_server_is_still_stopped_by_pid():
    server = RedisServer()
    server.start()
    pid = server.pid
    assert pid in live_servers()
    server.pause()
    server.cleanup()
    assert pid not in live_servers()
    assert not pid_exists(pid)


def test_a_killed_server_restarts_on_its_port():
    server = RedisServer()
    server.start()
    port, first = server.port, server.pid
    server.kill()
    assert first not in live_servers()
    server.start()
    assert server.port == port
    assert server.client().ping()
    server.cleanup()
