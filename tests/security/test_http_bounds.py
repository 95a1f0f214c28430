"""The worker's HTTP server under idle, half-open and disconnecting clients (all on loopback):
probes keep answering, connections and threads stay bounded, idle connections are closed,
the worker keeps processing, and nothing but JSON reaches its log."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.helpers import wait_for
from tests.redis_server import free_port
from workers.http import HttpServer, start_http_server

IDLE_SOCKETS = 200
HALF_OPEN_SOCKETS = 50


def get(port: int, path: str, timeout_s: float = 3.0) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout_s) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def hold(port: int, idle: int, half_open: int) -> list[socket.socket]:
    """``idle`` connections that send nothing and ``half_open`` that send half a request."""
    held = []
    for i in range(idle + half_open):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if i >= idle:
            sock.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        held.append(sock)
    return held


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.01)
    try:
        return sock.recv(1) == b""
    except (TimeoutError, BlockingIOError):
        return False
    except OSError:
        return True


def serve(idle_timeout_s: float) -> HttpServer:
    return start_http_server(
        0,
        live=lambda: (True, "ok"),
        ready=lambda: (True, "ready"),
        host="127.0.0.1",
        ready_fields={"tls": "off"},
        idle_timeout_s=idle_timeout_s,
        max_connections=16,
    )


@pytest.fixture
def server() -> Iterator[HttpServer]:
    s = serve(idle_timeout_s=0.5)
    yield s
    s.shutdown()


@pytest.fixture
def patient_server() -> Iterator[HttpServer]:
    """Idle timeout far above the test's length: only the connection cap closes sockets."""
    s = serve(idle_timeout_s=60)
    yield s
    s.shutdown()


def open_count(held: list[socket.socket]) -> int:
    return sum(not closed_by_server(s) for s in held)


def test_probes_answer_while_idle_and_half_open_sockets_are_held(patient_server):
    port = patient_server.port
    threads_before = threading.active_count()
    held = hold(port, IDLE_SOCKETS, HALF_OPEN_SOCKETS)
    try:
        # When: probes arrive while 250 sockets are open or queued
        statuses = [get(port, "/livez") for _ in range(5)]
        # Then: each is answered, and no thread per connection was started
        assert statuses == [200] * 5
        assert threading.active_count() <= threads_before + 2
        # And: the cap closed the oldest idle connections (the idle timeout is 60 s)
        wait_for(lambda: open_count(held) <= 16, 5, what="at most 16 connections open")
    finally:
        for sock in held:
            sock.close()


def test_idle_and_half_open_connections_are_closed_after_the_idle_timeout(server):
    held = hold(server.port, 10, 5)
    try:
        assert open_count(held) == 15
        wait_for(lambda: open_count(held) == 0, 5, what="idle sockets closed")
        assert get(server.port, "/livez") == 200
    finally:
        for sock in held:
            sock.close()


def test_a_slow_trickle_does_not_keep_a_connection_open(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    started = time.monotonic()
    try:
        closed = False
        while time.monotonic() - started < 5 and not closed:
            try:
                sock.sendall(b"X")  # one byte of a request head at a time
            except OSError:
                closed = True
            closed = closed or closed_by_server(sock)
            time.sleep(0.05)  # the trickle's pace, not a wait for an outcome
        assert closed
        assert time.monotonic() - started < 3
    finally:
        sock.close()


def test_readyz_body_carries_the_tls_field_and_unknown_methods_get_405(server):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/readyz", timeout=3) as reply:
        assert reply.read().decode() == "ready\ntls: off\n"
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/livez", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=3)  # noqa: S310 (http to loopback)
    caught.value.close()
    assert caught.value.code == 405


def test_the_default_host_is_loopback():
    s = start_http_server(0, live=lambda: (True, ""), ready=lambda: (True, ""))
    try:
        assert s.host == "127.0.0.1"
    finally:
        s.shutdown()


def process_threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


@pytest.mark.redis
@pytest.mark.slow
def test_a_worker_keeps_processing_and_probing_under_a_socket_flood(
    redis_url, subprocess_env, tmp_path
):
    # Given: a worker with its HTTP server on loopback, ready
    port = free_port()
    env = dict(subprocess_env, INGEST_REDIS_URL=redis_url, INGEST_LOG_FORMAT="json",
               INGEST_HTTP_PORT=str(port), INGEST_MIN_IDLE="5",
               INGEST_CLAIM_INTERVAL="1")  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "workers", "--sink", f"sqlite:///{tmp_path / 'sink.db'}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    held: list[socket.socket] = []
    try:
        wait_for(lambda: _ready(port), 20, what="worker ready")
        threads = process_threads(worker.pid)
        # When: 250 idle and half-open sockets are held, some clients drop mid-request,
        # and events arrive
        held = hold(port, IDLE_SOCKETS, HALF_OPEN_SOCKETS)
        for _ in range(20):
            drop = socket.create_connection(("127.0.0.1", port), timeout=5)
            drop.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            drop.close()
        produced = subprocess.run(
            [sys.executable, "-m", "ingest.produce", "--synthetic", "300"],
            env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path,
        )  # fmt: skip
        assert produced.returncode == 0, produced.stderr
        # Then: probes answer, every event is processed, threads stay bounded
        assert get(port, "/livez") == 200
        assert get(port, "/readyz") == 200
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        wait_for(lambda: _drained(client), 30, what="all 300 entries acknowledged")
        client.close()
        assert process_threads(worker.pid) <= threads + 4
    finally:
        for sock in held:
            sock.close()
        worker.terminate()
        _, stderr = worker.communicate(timeout=60)
    # And: its log holds only JSON lines, no traceback
    assert worker.returncode == 0, stderr
    assert "Traceback" not in stderr
    for line in stderr.splitlines():
        json.loads(line)


def _ready(port: int) -> bool:
    try:
        return get(port, "/readyz", timeout_s=1) == 200
    except OSError:
        return False


def _drained(client: redis.Redis) -> bool:
    groups = client.xinfo_groups("ingest:events")
    return bool(groups) and groups[0]["pending"] == 0 and groups[0]["lag"] == 0
