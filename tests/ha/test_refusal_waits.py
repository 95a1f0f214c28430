"""Each refusal kind is a bounded wait with a log line, never a traceback (real servers).

For each of ``NOREPLICAS``, ``READONLY``, ``LOADING``, ``BUSY`` and ``MASTERDOWN`` a producer
(``python -m ingest.produce``) meets the refusal on a real server, logs it, and either succeeds
once the condition clears or exits with the documented code once its deadline has passed:
``NOREPLICAS`` holds writes back like backpressure (``--max-block``, exit 4), the others are
unavailability (``--connect-timeout``, exit 3). ``TRYAGAIN`` and ``CLUSTERDOWN`` come from the
cluster fixture in ``test_cluster_refusals.py``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable

import pytest
import redis

from tests.ha.producing import Finished
from tests.helpers import wait_for
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]

STREAM = "ingest:events"
EVENTS = "40"


def assert_clean(done: Finished) -> None:
    assert "Traceback" not in done.stderr, done.stderr


def assert_produced(done: Finished, server: RedisServer, count: int = int(EVENTS)) -> None:
    assert done.code == 0, done.stderr
    assert_clean(done)
    assert done.summary is not None
    assert done.summary["produced"] == count
    with server.client(decode_responses=True) as check:
        assert check.xlen(STREAM) == count


def replica_of(make: Callable[..., RedisServer], primary: RedisServer) -> RedisServer:
    replica = make(extra=["--replicaof", "127.0.0.1", str(primary.port)])

    def linked() -> bool:
        with replica.client(decode_responses=True) as client:
            return bool(client.info("replication").get("master_link_status") == "up")

    wait_for(linked, 15, what="the replica linked")
    return replica


# -- NOREPLICAS: backpressure ---------------------------------------------------------------


def test_noreplicas_waits_until_a_replica_is_in_sync(make_redis_server, produce):
    # Given: a primary that wants one replica in sync, and none (the function not loaded yet:
    # FUNCTION LOAD is refused too)
    primary = make_redis_server(extra=["--min-replicas-to-write", "1"])
    run = produce(primary.url, "--synthetic", EVENTS, "--connect-timeout", "10",
                  "--max-block", "60")  # fmt: skip
    # When: the producer has said why it waits, a replica joins
    line = run.wait_for_line("NOREPLICAS")
    replica_of(make_redis_server, primary)
    done = run.finish()
    # Then: it waited with a log line and produced everything, no traceback
    assert "fewer replicas in sync than its min-replicas-to-write" in line
    assert_produced(done, primary)


def test_noreplicas_past_max_block_exits_4_naming_it(make_redis_server, produce):
    # Given: the library loaded, then no replica for min-replicas-to-write 1
    primary = make_redis_server()
    with primary.client() as admin:
        from ingest.library import LIBRARY_CODE

        admin.function_load(LIBRARY_CODE, replace=True)
        admin.config_set("min-replicas-to-write", 1)
    # When: a producer with --connect-timeout 10 and --max-block 2 runs
    done = produce(primary.url, "--synthetic", EVENTS, "--connect-timeout", "10",
                   "--max-block", "2").finish()  # fmt: skip
    # Then: exit 4 after waiting, one error line naming NOREPLICAS, no traceback
    assert done.code == 4, done.stderr
    assert_clean(done)
    assert len(done.errors()) == 1
    assert "NOREPLICAS" in done.errors()[0]
    assert "refused" in done.stderr  # the wait's log line came first


# -- READONLY: a replica, or a demoted primary ---------------------------------------------


def test_readonly_waits_and_reconnects_until_the_node_is_primary(make_redis_server, produce):
    # Given: a producer pointed at a replica (the library loaded on its primary)
    primary = make_redis_server()
    replica = replica_of(make_redis_server, primary)
    run = produce(replica.url, "--synthetic", EVENTS, "--connect-timeout", "60")
    # When: it has logged READONLY, the replica is promoted (REPLICAOF NO ONE)
    line = run.wait_for_line("READONLY")
    with replica.client() as admin:
        admin.replicaof("NO", "ONE")
    done = run.finish()
    # Then: it reconnected and produced everything into the promoted node
    assert "reconnecting" in line
    assert_produced(done, replica)


def test_readonly_past_connect_timeout_exits_3_naming_it(make_redis_server, produce):
    primary = make_redis_server()
    replica = replica_of(make_redis_server, primary)
    done = produce(replica.url, "--synthetic", EVENTS, "--connect-timeout", "1.5").finish()
    assert done.code == 3, done.stderr
    assert_clean(done)
    assert len(done.errors()) == 1
    assert "READONLY" in done.errors()[0]


# -- LOADING: a server loading its dataset --------------------------------------------------


def loading_server(make: Callable[..., RedisServer], key_load_delay_us: int) -> RedisServer:
    """A server whose restart loads 20,000 keys at ``key_load_delay_us`` each (Redis' hidden
    ``key-load-delay`` test setting; it keeps answering ``-LOADING`` meanwhile)."""
    server = make(extra=["--key-load-delay", str(key_load_delay_us),
                         "--loading-process-events-interval-bytes", "1024"])  # fmt: skip
    with server.client() as admin:
        for start in range(0, 20_000, 1000):
            admin.mset({f"filler:{i}": "x" * 16 for i in range(start, start + 1000)})
        admin.save()  # dump.rdb, loaded at the next start
    server.stop()
    return server


def start_loading(server: RedisServer) -> tuple[threading.Thread, list[BaseException]]:
    """Start ``server`` aside (RedisServer.start returns only once loading is over); returns
    the thread and what it raised (a server killed while loading fails its start)."""
    server._fixed_port = True
    raised: list[BaseException] = []

    def start() -> None:
        try:
            server.start(timeout_s=60)
        except Exception as exc:  # reported to the test through `raised`
            raised.append(exc)

    starter = threading.Thread(target=start, daemon=True)
    starter.start()
    wait_for(lambda: server.proc is not None, 10, what="the server process")
    return starter, raised


def test_loading_waits_until_the_dataset_is_loaded(make_redis_server, produce):
    # Given: a server restarting with a dataset that takes seconds to load
    server = loading_server(make_redis_server, key_load_delay_us=150)
    starter, raised = start_loading(server)
    # When: a producer starts meanwhile
    run = produce(server.url, "--synthetic", EVENTS, "--connect-timeout", "60")
    line = run.wait_for_line("LOADING")
    done = run.finish()
    starter.join(timeout=60)
    assert raised == []
    # Then: it waited with a log line, then produced everything
    assert "loading its dataset" in line
    assert_produced(done, server)


def test_loading_past_connect_timeout_exits_3_naming_it(make_redis_server, produce):
    server = loading_server(make_redis_server, key_load_delay_us=5000)  # about 100 s
    starter, _raised = start_loading(server)
    done = produce(server.url, "--synthetic", EVENTS, "--connect-timeout", "2").finish()
    server.kill()  # not worth waiting for the load (its start then fails, as expected)
    starter.join(timeout=15)
    assert done.code == 3, done.stderr
    assert_clean(done)
    assert "LOADING" in done.errors()[0]


# -- BUSY: a long script --------------------------------------------------------------------


def test_busy_waits_until_the_script_is_killed(make_redis_server, produce):
    # Given: a script looping on the server past busy-reply-threshold (100 ms)
    server = make_redis_server(extra=["--busy-reply-threshold", "100"])
    looping = server.client(socket_timeout=60)
    outcome: list[BaseException] = []

    def loop() -> None:
        try:
            looping.eval("while true do end", 0)
        except redis.ResponseError as exc:  # "Script killed by user with SCRIPT KILL"
            outcome.append(exc)

    runner = threading.Thread(target=loop, daemon=True)
    runner.start()
    with server.client() as probe:
        wait_for(lambda: _busy(probe), 10, what="the server busy")
    # When: a producer meets BUSY, then the script is killed
    run = produce(server.url, "--synthetic", EVENTS, "--connect-timeout", "60")
    line = run.wait_for_line("BUSY")
    with server.client() as admin:
        admin.script_kill()
    done = run.finish()
    runner.join(timeout=10)
    looping.close()
    # Then: it waited with a log line, then produced everything
    assert "SCRIPT KILL" in line
    assert outcome and "kill" in str(outcome[0]).lower()
    assert_produced(done, server)


def _busy(client: redis.Redis) -> bool:
    try:
        client.ping()
    except redis.ResponseError as exc:
        return str(exc).startswith("BUSY")
    return False


# -- MASTERDOWN: a replica that lost its primary --------------------------------------------


def test_masterdown_waits_until_the_replica_is_promoted(make_redis_server, produce):
    # Given: a replica that serves no stale data, whose primary is gone
    primary = make_redis_server()
    replica = replica_of(make_redis_server, primary)
    with replica.client() as admin:
        admin.config_set("replica-serve-stale-data", "no")
    primary.kill()
    with replica.client(decode_responses=True) as admin:
        wait_for(lambda: admin.info("replication")["master_link_status"] == "down", 10)
    # When: a producer pointed at it has logged MASTERDOWN, it is promoted
    run = produce(replica.url, "--synthetic", EVENTS, "--connect-timeout", "60")
    line = run.wait_for_line("MASTERDOWN")
    with replica.client() as admin:
        admin.replicaof("NO", "ONE")
    done = run.finish()
    # Then: it produced everything into the promoted node
    assert "lost its primary" in line
    assert_produced(done, replica)


# -- the other sync CLIs --------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["ingest.stats", "--json", "--interval", "0"],
        ["ingest.groups", "--json", "list"],
        ["workers.dlq", "--json", "list"],
        ["ingest.admission", "load"],
    ],
    ids=["stats", "groups", "dlq", "admission"],
)
def test_the_other_clis_wait_out_a_refusal_then_exit_3_naming_it(
    make_redis_server, subprocess_env, tmp_path, command
):
    # Given: a replica that serves no stale data, its primary gone (MASTERDOWN to reads too)
    primary = make_redis_server()
    replica = replica_of(make_redis_server, primary)
    with replica.client() as admin:
        admin.config_set("replica-serve-stale-data", "no")
    primary.kill()
    with replica.client(decode_responses=True) as admin:
        wait_for(lambda: admin.info("replication")["master_link_status"] == "down", 10)
    # When: the CLI runs with a short --connect-timeout
    done = subprocess.run(
        [sys.executable, "-m", *command, "--redis-url", replica.url, "--connect-timeout", "1"],
        env=subprocess_env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    # Then: it waited (a log line where it logs at all), exits 3 with one line naming
    # MASTERDOWN, no traceback
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    assert "MASTERDOWN" in errors[0] or "READONLY" in errors[0]  # FUNCTION LOAD: READONLY
