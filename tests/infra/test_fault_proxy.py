"""The fault proxy (faults/) in front of a real redis-server: each mode, seen by redis-py."""

from __future__ import annotations

import ast
import os
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from faults import FaultProxy, Mode
from tests.helpers import wait_for

pytestmark = pytest.mark.redis


def through(proxy: FaultProxy, **kwargs: object) -> redis.Redis:
    """A client via the proxy that surfaces every error (no redis-py retries)."""
    kwargs.setdefault("socket_timeout", 0.5)
    kwargs.setdefault("socket_connect_timeout", 0.5)
    return redis.Redis(port=proxy.port, retry=Retry(NoBackoff(), 0), **kwargs)  # type: ignore[arg-type]


def round_trip_s(client: redis.Redis) -> float:
    began = time.monotonic()
    client.ping()
    return time.monotonic() - began


def test_pass_mode_forwards_commands_and_replies(fault_proxy, client):
    proxied = through(fault_proxy, decode_responses=True)
    proxied.set("k", "v")
    assert client.get("k") == "v"
    assert proxied.get("k") == "v"
    assert fault_proxy.stats().accepted == 1


def test_latency_delays_each_direction(fault_proxy):
    proxied = through(fault_proxy, socket_timeout=5)
    proxied.ping()
    fault_proxy.add_latency(100)
    assert round_trip_s(proxied) >= 0.2
    fault_proxy.add_latency(0, 150)  # replies only
    assert round_trip_s(proxied) >= 0.15
    assert fault_proxy.mode == Mode(latency_down_ms=150)


def test_reset_all_sends_rst_to_a_client_blocked_in_a_read(fault_proxy, client):
    # Given a client blocked in BLPOP through the proxy
    proxied = through(fault_proxy, socket_timeout=30)
    with ThreadPoolExecutor(1) as pool:
        blocked = pool.submit(proxied.blpop, ["nothing"], 20)
        wait_for(
            lambda: any(c["cmd"] == "blpop" for c in client.client_list()), what="BLPOP blocked"
        )
        # When every connection is reset
        assert fault_proxy.reset_all() == 1
        # Then the blocked read fails at once with a connection error (not after 20 s)
        with pytest.raises(redis.ConnectionError):
            blocked.result(timeout=5)
    # And new connections work: the mode is still pass
    assert through(fault_proxy).ping()
    assert fault_proxy.stats().resets == 1


def test_blackhole_times_out_without_a_reset_and_holds_data_until_healed(fault_proxy, client):
    proxied = through(fault_proxy, decode_responses=True)
    proxied.ping()
    clients_before = len(client.client_list())
    fault_proxy.blackhole()
    # An open connection: the request is swallowed, no reply, no RST: a timeout
    with pytest.raises(redis.TimeoutError):
        proxied.set("held", "1")
    # A new connection is accepted but never reaches the server
    with pytest.raises(redis.TimeoutError):
        through(fault_proxy).ping()
    assert client.get("held") is None
    assert len(client.client_list()) == clients_before
    # Healed: the held request is delivered, as TCP retransmission would
    fault_proxy.pass_through()
    wait_for(lambda: client.get("held") == "1", what="held SET delivered")
    assert through(fault_proxy).ping()


def test_half_open_down_executes_requests_but_never_answers(fault_proxy, client):
    proxied = through(fault_proxy)
    proxied.ping()
    fault_proxy.half_open("down")
    with pytest.raises(redis.TimeoutError):
        proxied.set("k", "landed")
    wait_for(lambda: client.get("k") == "landed", what="SET executed on the server")


def test_half_open_up_holds_requests(fault_proxy, client):
    proxied = through(fault_proxy)
    proxied.ping()
    fault_proxy.half_open("up")
    with pytest.raises(redis.TimeoutError):
        proxied.set("k", "held")
    assert client.get("k") is None


def test_refuse_rejects_new_connections_and_keeps_open_ones(fault_proxy):
    proxied = through(fault_proxy)
    proxied.ping()
    fault_proxy.refuse()
    with pytest.raises(redis.ConnectionError, match="refused"):
        through(fault_proxy).ping()
    assert proxied.ping()
    fault_proxy.pass_through()
    assert through(fault_proxy).ping()


def test_drop_replies_lands_the_write_and_loses_its_reply(fault_proxy, client):
    # Given a connected client
    proxied = through(fault_proxy, socket_timeout=5)
    proxied.ping()
    # When the next reply is dropped
    fault_proxy.drop_replies(1)
    with pytest.raises(redis.ConnectionError):
        proxied.xadd("s", {"n": "1"})
    # Then the client saw an error, yet the entry is in the stream: "did my write land?"
    assert client.xlen("s") == 1
    assert fault_proxy.stats().replies_dropped == 1
    # And only one reply was dropped
    assert proxied.xadd("s", {"n": "2"})
    assert client.xlen("s") == 2


def test_stop_leaves_no_thread_socket_or_listener(redis_server):
    fds_before = len(os.listdir("/proc/self/fd"))
    threads_before = threading.active_count()
    proxy = FaultProxy(redis_server.port).start()
    clients = [through(proxy) for _ in range(3)]
    for c in clients:
        c.ping()
    proxy.blackhole()  # a link waiting on a hold must be torn down too
    raw = socket.create_connection(("127.0.0.1", proxy.port))
    wait_for(lambda: proxy.stats().open_connections == 4, what="4 links")
    proxy.stop()
    raw.close()
    for c in clients:
        c.close()
    assert threading.active_count() == threads_before
    assert len(os.listdir("/proc/self/fd")) == fds_before
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", proxy.port)):
        pass


def test_proxy_targets_loopback_only():
    with pytest.raises(ValueError, match="not a loopback address"):
        FaultProxy(6379, target_host="10.0.0.1")
    with pytest.raises(ValueError, match="latency must be >= 0"):
        Mode(latency_up_ms=-1)


def test_faults_package_imports_only_the_standard_library():
    # faults/ is a tool for tests and bench: it must not pull in the product or a client.
    root = Path(__file__).resolve().parents[2] / "faults"
    imported: set[str] = set()
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    assert imported - {"faults", "__future__"} <= sys.stdlib_module_names
