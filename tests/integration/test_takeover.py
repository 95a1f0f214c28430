"""Takeover from a dead worker is fast and said: SIGKILL a worker holding entries, and a
live worker at the defaults (liveness TTL 5 s, min-idle 60 s) starts them within 10 s, with
one WARNING naming the dead consumer. A process restarted under the same name takes the name
over at once when its holder is gone (a zombie not yet reaped, a PID reused), and a refusal
says who holds the name and when it frees.

(Found by trying: 68.9 s to clear the backlog after a SIGKILL, nothing logged; a restart
under the same name refused with no word of when it frees.)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from ingest.connection import async_client
from ingest.keys import StreamKeys
from ingest.settings import RedisSettings
from tests.helpers import wait_for
from tests.workers.util import GROUP, STREAM, add_events, start_worker
from workers.consumer import claim_consumer_name, holder_is_gone, process_start
from workers.errors import ConsumerNameTaken

pytestmark = pytest.mark.slow


def _started(path: Path) -> list[tuple[float, str]]:
    """(time, event ID) of each line ``<time> <event ID>`` the stamping handler wrote."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        at, _, event_id = line.partition(" ")
        out.append((float(at), event_id))
    return out


def test_entries_of_a_killed_worker_are_processed_elsewhere_within_ten_seconds(
    redis_url: str, client: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Given: a worker holding four entries in slow handlers, and an idle worker, both at the
    # default liveness TTL, claim interval and min-idle
    started = tmp_path / "started.txt"
    env = {**subprocess_env, "TEST_STAMPED": str(started)}
    add_events(client, 4)
    handler = ("--handler", "tests.workers.sample_handlers:stamp", "--log-level", "INFO")
    victim = start_worker({**env, "TEST_SLEEP_S": "60"}, redis_url, *handler, "--consumer", "v")
    wait_for(lambda: len(_started(started)) == 4, 20, what="four entries running")
    survivor = start_worker(env, redis_url, *handler, "--consumer", "s")
    wait_for(lambda: client.exists("{ingest:events}:alive:workers:s"), 20, what="survivor up")

    # When: the first worker is killed
    victim.kill()
    victim.communicate(timeout=10)
    killed_at = time.time()

    # Then: the survivor starts all four within 10 s of the SIGKILL
    wait_for(lambda: len(_started(started)) == 8, 15, what="four taken over")
    took = max(at for at, _ in _started(started)[4:]) - killed_at
    assert took <= 10.0, took
    print(f"SIGKILL to all four started elsewhere: {took:.2f} s")
    wait_for(lambda: client.xpending(STREAM, GROUP)["pending"] == 0, 15, what="all acked")
    survivor.send_signal(signal.SIGTERM)
    _, err = survivor.communicate(timeout=20)
    assert survivor.returncode == 0, err
    warnings = [line for line in err.splitlines() if "is dead (its liveness key expired)" in line]
    assert len(warnings) == 1, err
    assert (
        "consumer v is dead" in warnings[0] and "s takes over its 4 pending entries" in warnings[0]
    )


def _zombie() -> subprocess.Popen[bytes]:
    """A child that exited and is not reaped yet (state Z)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    wait_for(lambda: (process_start(proc.pid) or ("?",))[0] == "Z", 10, what="a zombie")
    return proc


async def test_a_restart_takes_the_name_of_a_holder_that_is_a_zombie_or_a_reused_pid(
    redis_url: str, client: redis.Redis
) -> None:
    keys = StreamKeys(STREAM)
    key = keys.consumer_alive(GROUP, "w1")
    aclient = async_client(RedisSettings(redis_url))
    zombie = _zombie()
    try:
        found = process_start(zombie.pid)
        assert found is not None
        # Given: the name held by a killed process not yet reaped
        client.set(key, f"{socket.gethostname()}:{found[1]}:{zombie.pid}", ex=30)
        # When/Then: a restart takes it at once
        await claim_consumer_name(aclient, keys, GROUP, "w1", 5.0)
        assert str(client.get(key)).split(":")[-1] == str(os.getpid())
        # Given: the name held by a PID now running a process that started later (reused)
        parent = os.getppid()
        client.set(key, f"{socket.gethostname()}:1:{parent}", ex=30)
        # When/Then: taken at once too
        await claim_consumer_name(aclient, keys, GROUP, "w1", 5.0)
        assert str(client.get(key)).split(":")[-1] == str(os.getpid())
    finally:
        zombie.wait()
        await aclient.aclose()


async def test_a_live_holder_keeps_the_name_and_the_refusal_says_who_and_when_it_frees(
    redis_url: str, client: redis.Redis
) -> None:
    keys = StreamKeys(STREAM)
    key = keys.consumer_alive(GROUP, "w1")
    parent = os.getppid()
    found = process_start(parent)
    assert found is not None
    holder = f"{socket.gethostname()}:{found[1]}:{parent}"
    client.set(key, holder, px=4000)
    aclient = async_client(RedisSettings(redis_url))
    try:
        with pytest.raises(ConsumerNameTaken) as info:
            await claim_consumer_name(aclient, keys, GROUP, "w1", 5.0)
    finally:
        await aclient.aclose()
    assert holder in str(info.value)
    assert "the name frees in " in str(info.value)
    assert info.value.frees_in_s is not None and 0 < info.value.frees_in_s <= 4.0


def test_holders_in_the_older_host_pid_form_are_understood() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: the PID runs nothing now (unless reused, which start times tell)
    host = socket.gethostname()
    assert holder_is_gone(f"{host}:{gone.pid}") or process_start(gone.pid) is not None
    assert not holder_is_gone(f"{host}:{os.getppid()}")
    assert not holder_is_gone(f"elsewhere:{gone.pid}")
    assert not holder_is_gone("garbage")
