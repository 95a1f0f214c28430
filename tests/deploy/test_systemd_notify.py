"""systemd's notify protocol as a Type=notify unit sees it: a datagram socket named by
NOTIFY_SOCKET receives READY=1, STATUS=..., WATCHDOG=1 and STOPPING=1 in that order.

First the Notifier alone, then a real worker process (`python -m workers`) against the
redis-server fixture, exactly as ingest-worker@.service starts it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ingest.codec import Event, encode
from tests.helpers import wait_for
from workers.systemd import Notifier


class NotifyListener:
    """Collects the datagrams sent to a bound ``AF_UNIX`` ``SOCK_DGRAM`` socket, in order,
    with the monotonic time each arrived (``received``)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.messages: list[str] = []
        self.received: list[float] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(address if not address.startswith("@") else "\0" + address[1:])
        self._sock.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received.append(time.monotonic())
            self.messages.append(data.decode())

    def count(self, line: str) -> int:
        """How many datagrams received so far contain the line ``line``."""
        return sum(line in message.splitlines() for message in list(self.messages))

    def count_prefix(self, prefix: str) -> int:
        """How many lines received so far start with ``prefix``."""
        return sum(
            line.startswith(prefix)
            for message in list(self.messages)
            for line in message.splitlines()
        )

    def close(self) -> list[str]:
        """Stop collecting and return the datagrams (idempotent)."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
        return list(self.messages)


@pytest.fixture
def listener() -> Iterator[NotifyListener]:
    # AF_UNIX paths are limited to 107 bytes: pytest's tmp_path can be longer.
    directory = tempfile.mkdtemp(prefix="notify-", dir="/tmp")
    listening = NotifyListener(os.path.join(directory, "notify.sock"))
    yield listening
    listening.close()
    shutil.rmtree(directory, ignore_errors=True)


def _index(messages: list[str], line: str) -> int:
    return next(i for i, message in enumerate(messages) if line in message.splitlines())


def test_notifier_sends_each_message_to_the_socket(listener: NotifyListener) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "2000000"})

    notifier.ready("joined group workers")
    notifier.status("acked 10")
    notifier.watchdog()
    notifier.stopping("draining 3")
    wait_for(lambda: len(listener.messages) == 4, 5, what="four datagrams")
    notifier.close()

    assert listener.close() == [
        "READY=1\nSTATUS=joined group workers",
        "STATUS=acked 10",
        "WATCHDOG=1",
        "STOPPING=1\nSTATUS=draining 3",
    ]
    assert notifier.watchdog_interval_s == 1.0


def test_notifier_reaches_an_abstract_socket() -> None:
    name = f"@ingest-notify-test-{os.getpid()}"
    listening = NotifyListener(name)

    notifier = Notifier({"NOTIFY_SOCKET": name})

    notifier.ready()
    wait_for(lambda: listening.messages, 5, what="READY=1")
    notifier.close()

    assert listening.close() == ["READY=1"]


def test_watchdog_is_silent_without_watchdog_usec_or_for_another_pid(
    listener: NotifyListener,
) -> None:
    unset = Notifier({"NOTIFY_SOCKET": listener.address})
    other_pid = Notifier(
        {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    )

    unset.watchdog()
    other_pid.watchdog()
    unset.ready()
    wait_for(lambda: listener.messages, 5, what="READY=1")
    unset.close()
    other_pid.close()

    assert listener.close() == ["READY=1"]
    assert unset.watchdog_interval_s is None
    assert other_pid.watchdog_interval_s is None


def test_notifier_without_notify_socket_is_a_no_op() -> None:
    notifier = Notifier({})

    notifier.ready()
    notifier.stopping()

    assert not notifier.enabled


# ---- a real worker process -------------------------------------------------------------------


def _produce(redis_url: str, count: int) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    with client.pipeline(transaction=False) as pipe:
        for n in range(count):
            fields = encode(Event(f"notify:{n}", {"n": n}, source="notify"))
            pipe.xadd("ingest:events", fields)  # type: ignore[arg-type]
        pipe.execute()
    client.close()


def _worker_env(
    subprocess_env: dict[str, str], redis_url: str, listener: NotifyListener, tmp_path: Path
) -> dict[str, str]:
    env = dict(subprocess_env)
    env.update(
        NOTIFY_SOCKET=listener.address,
        WATCHDOG_USEC="2000000",
        INGEST_REDIS_URL=redis_url,
        INGEST_CONSUMER="notify-test",
        INGEST_SINK=f"sqlite:///{tmp_path / 'sink.db'}",
        INGEST_MIN_IDLE="1",
        INGEST_CONSUMER_TTL="60",
    )
    return env


def _check_order(messages: list[str]) -> None:
    ready, stopping = _index(messages, "READY=1"), _index(messages, "STOPPING=1")
    assert ready == 0, messages[:3]
    assert ready < stopping
    assert sum("READY=1" in message.splitlines() for message in messages) == 1
    # Nothing but status lines may follow STOPPING=1.
    for message in messages[stopping + 1 :]:
        assert all(line.startswith("STATUS=") for line in message.splitlines()), message


@pytest.mark.slow
def test_burst_worker_sends_ready_status_then_stopping(
    redis_url: str, subprocess_env: dict[str, str], listener: NotifyListener, tmp_path: Path
) -> None:
    _produce(redis_url, 50)

    result = subprocess.run(
        [sys.executable, "-m", "workers", "--burst"],
        env=_worker_env(subprocess_env, redis_url, listener, tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    wait_for(lambda: listener.count("STOPPING=1"), 5, what="STOPPING=1")
    messages = listener.close()

    assert result.returncode == 0, result.stderr[-2000:]
    _check_order(messages)
    assert any(line.startswith("STATUS=") for m in messages for line in m.splitlines())


@pytest.mark.slow
def test_worker_reports_counts_pings_the_watchdog_and_stops_on_sigterm(
    redis_url: str, subprocess_env: dict[str, str], listener: NotifyListener, tmp_path: Path
) -> None:
    _produce(redis_url, 20)
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers"],
        env=_worker_env(subprocess_env, redis_url, listener, tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: listener.count("READY=1"), 15, what="READY=1")
        # WATCHDOG_USEC=2 s: pings every ~1 s while the worker sits in blocking reads (5 s).
        wait_for(lambda: listener.count("WATCHDOG=1") >= 3, 10, what="three WATCHDOG=1")
        # STATUS= with the counts every few seconds (what `systemctl status` shows).
        wait_for(lambda: listener.count_prefix("STATUS=acked 20,"), 15, what="STATUS=acked 20")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    wait_for(lambda: listener.count("STOPPING=1"), 5, what="STOPPING=1")
    messages = listener.close()

    assert proc.returncode == 0, stderr[-2000:]
    _check_order(messages)
    assert _index(messages, "READY=1") < _index(messages, "WATCHDOG=1")


@pytest.mark.slow
def test_watchdog_keeps_pinging_while_every_handler_slot_is_busy(
    redis_url: str, subprocess_env: dict[str, str], listener: NotifyListener, tmp_path: Path
) -> None:
    # A healthy worker whose handlers are slow must not look hung to systemd: WatchdogSec in
    # ingest-worker@.service would restart it mid-job. One slot, capacity 2: four entries fill
    # it, and the reader waits for room for as long as the handler runs.
    _produce(redis_url, 4)
    mark = tmp_path / "started"
    env = _worker_env(subprocess_env, redis_url, listener, tmp_path)
    env.update(
        INGEST_HANDLER="tests.deploy.slow_handler:handle",
        SLOW_HANDLER_MARK=str(mark),
        INGEST_CONCURRENCY="1",
        INGEST_READ_COUNT="1",
        INGEST_BLOCK_MS="1000",
        INGEST_SHUTDOWN_TIMEOUT="1",
        INGEST_HUNG_AFTER="2",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(mark.exists, 15, what="the handler to start")
        # The worker calls a loop stale after --hung-after (2 s here): a ping after 3 s shows
        # the reader waiting for a free slot is not taken for hung.
        quiet_after = time.monotonic() + 3.0

        def pinged_late() -> bool:
            return any(
                at > quiet_after and "WATCHDOG=1" in message.splitlines()
                # received is appended first, so it may hold one more item: strict=False.
                for at, message in zip(listener.received, list(listener.messages), strict=False)
            )

        wait_for(pinged_late, 15, what="a WATCHDOG=1 more than 3 s into a busy handler")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == 0, stderr[-2000:]
