"""Worker processes (``python -m workers``) where signals, crashes and restarts matter."""

from __future__ import annotations

import csv
import gzip
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import redis

from ingest.codec import Event, encode
from tests.conftest import DEMO_CSV
from tests.helpers import wait_for
from tests.redis_server import RedisServer
from tests.workers.util import (
    GROUP,
    STARTED,
    STREAM,
    add_events,
    dead_letters,
    start_worker,
    summary_of,
    worker_cmd,
)

pytestmark = pytest.mark.slow


def _rows(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _produce_csv(client: redis.Redis) -> int:
    with gzip.open(DEMO_CSV, "rt", newline="") as f:
        rows = list(csv.DictReader(f))
    pipe = client.pipeline(transaction=False)
    for line, row in enumerate(rows, start=2):
        event = Event(f"{DEMO_CSV.name}:{line}", row, source=DEMO_CSV.name)
        pipe.xadd(STREAM, encode(event))  # type: ignore[arg-type]
    pipe.execute()
    return len(rows)


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.communicate(timeout=10)


def _finish(proc: subprocess.Popen[str], timeout: float = 20) -> tuple[int, str, str]:
    """Wait for ``proc``; on a timeout kill it and fail with the tail of its stderr."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(
            f"worker still running after {timeout} s; stderr:\n{err[-4000:]}"
        ) from None
    return proc.returncode, out, err


def test_bundled_csv_through_two_workers_lands_once_and_again_is_all_duplicates(
    redis_url: str, client: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    db = tmp_path / "sink.db"
    args = ("--burst", "--sink", f"sqlite:///{db}", "--min-idle", "2", "--claim-interval", "0.5")
    for run in (1, 2):
        # Given the whole file in the stream
        produced = _produce_csv(client)
        # When two burst workers drain it
        workers = [start_worker(subprocess_env, redis_url, *args) for _ in range(2)]
        results = [_finish(w, 60) for w in workers]
        # Then both exit 0, every row is stored once, nothing is pending
        assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
        summaries = [summary_of(out) for _, out, _ in results]
        assert _rows(db) == produced == 19226
        assert client.xpending(STREAM, GROUP)["pending"] == 0
        inserted = sum(int(s["inserted"]) for s in summaries)
        duplicates = sum(int(s["duplicates"]) for s in summaries)
        if run == 1:
            assert inserted == produced
        else:
            assert (inserted, duplicates) == (0, produced)


def test_block_close_to_socket_timeout_sits_idle_without_errors_then_handles_an_event(
    redis_url: str, client: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    db = tmp_path / "sink.db"
    cmd = worker_cmd(redis_url, "--sink", f"sqlite:///{db}", "--log-level", "INFO")
    cmd[cmd.index("--block-ms") + 1] = "1300"
    cmd += ["--socket-timeout", "1.5"]
    proc = subprocess.Popen(
        cmd, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    STARTED.append(proc)  # killed by the fixture if an assertion fails before the SIGTERM
    wait_for(
        lambda: client.exists("{ingest:events}:alive:workers:" + _consumer(client)),
        15,
        what="worker up",
    )
    started = time.monotonic()
    reads = _xreadgroup_calls(client)
    # Several block periods pass: each is one non-blocking read (inside the ingest_read
    # function, counted as an XREADGROUP too) and one blocking XREADGROUP; wait for four
    wait_for(lambda: _xreadgroup_calls(client) >= reads + 8, 15, what="four block periods")
    assert time.monotonic() - started >= 3 * 1.3 - 0.5
    add_events(client, 1)
    wait_for(lambda: _rows(db) == 1, 10, what="event stored")
    proc.send_signal(signal.SIGTERM)
    code, out, err = _finish(proc)
    assert code == 0, err
    summary = summary_of(out)
    assert summary["connection_errors"] == 0
    # The test server persists nothing, which the worker rightly warns about; nothing else
    lines = [line for line in err.splitlines() if "Redis persists nothing" not in line]
    assert not [line for line in lines if "WARNING" in line or "ERROR" in line], err


def _consumer(client: redis.Redis) -> str:
    consumers = client.xinfo_consumers(STREAM, GROUP) if client.exists(STREAM) else []
    return str(consumers[0]["name"]) if consumers else "none"


def _xreadgroup_calls(client: redis.Redis) -> int:
    return int(client.info("commandstats").get("cmdstat_xreadgroup", {}).get("calls", 0))


def test_block_at_socket_timeout_is_refused_at_start(subprocess_env: dict[str, str]) -> None:
    from workers.cli import main

    code = main(["--block-ms", "2000", "--socket-timeout", "2"], environ={})

    assert code == 2


def test_wrongtype_key_stops_the_worker_with_a_clear_message(
    redis_url: str, client: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    client.set(STREAM, "not a stream")

    proc = start_worker(subprocess_env, redis_url)
    code, _, err = _finish(proc)

    assert code == 1
    assert "WRONGTYPE" in err
    assert "cannot create consumer group 'workers' on 'ingest:events'" in err


def test_five_workers_at_once_on_an_empty_server_make_one_group(
    redis_url: str, client: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    procs = [
        start_worker(subprocess_env, redis_url, "--burst", "--sink", f"sqlite:///{tmp_path}/s.db")
        for _ in range(5)
    ]
    results = [_finish(p, 30) for p in procs]

    assert [code for code, _, _ in results] == [0] * 5, [err for _, _, err in results]
    assert [g["name"] for g in client.xinfo_groups(STREAM)] == [GROUP]


def test_sigterm_mid_run_exits_zero_and_a_second_worker_finishes(
    redis_url: str, client: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    record = tmp_path / "record.txt"
    env = {**subprocess_env, "TEST_RECORD": str(record), "TEST_SLEEP_S": "0.01"}
    add_events(client, 300)
    handler = ("--handler", "tests.workers.sample_handlers:record", "--concurrency", "4")
    first = start_worker(env, redis_url, *handler, "--shutdown-timeout", "5")
    wait_for(lambda: len(_lines(record)) >= 30, 15, what="first worker busy")
    first.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    code, _, err = _finish(first)
    assert code == 0, err
    assert time.monotonic() - t0 < 5
    second = start_worker(env, redis_url, *handler, "--burst", "--min-idle", "60")
    code, _, err = _finish(second, 60)
    assert code == 0, err
    assert set(_lines(record)) == {f"e{i}" for i in range(300)}
    assert client.xpending(STREAM, GROUP)["pending"] == 0


def test_sigkill_then_restart_under_same_name_handles_own_pending_first(
    redis_url: str, client: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    record = tmp_path / "record.txt"
    env = {**subprocess_env, "TEST_RECORD": str(record), "TEST_SLEEP_S": "0.2"}
    add_events(client, 20, prefix="old")
    handler = ("--handler", "tests.workers.sample_handlers:record", "--consumer", "w1")
    first = start_worker(env, redis_url, *handler, "--concurrency", "1", "--batch", "10")
    wait_for(lambda: len(_lines(record)) >= 1, 15, what="first event handled")
    _kill(first)
    held = {e["message_id"] for e in client.xpending_range(STREAM, GROUP, "-", "+", 100, "w1")}
    assert held
    add_events(client, 20, prefix="new")
    before = len(_lines(record))
    env["TEST_SLEEP_S"] = "0"
    second = start_worker(env, redis_url, *handler, "--concurrency", "1", "--burst")
    code, _, err = _finish(second, 30)
    assert code == 0, err
    later = _lines(record)[before:]
    old_ids = {i for i in later if i.startswith("old")}
    assert len(old_ids) >= len(held) - 1
    first_new = next(i for i, e in enumerate(later) if e.startswith("new"))
    assert all(e.startswith("old") for e in later[:first_new])
    assert set(later[:first_new]) >= {e for e in old_ids if e in later[: len(held)]}
    assert client.xpending(STREAM, GROUP)["pending"] == 0


def test_twenty_thousand_events_with_a_worker_killed_midway_land_exactly_once(
    redis_url: str, client: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    db = tmp_path / "sink.db"
    add_events(client, 20_000)
    common = ("--sink", f"sqlite:///{db}", "--min-idle", "1", "--claim-interval", "0.3")
    victim = start_worker(subprocess_env, redis_url, *common, "--consumer", "victim")
    survivor = start_worker(subprocess_env, redis_url, *common, "--consumer", "survivor")
    wait_for(lambda: _rows(db) >= 3000, 20, what="a third of the run")
    _kill(victim)
    replacement = start_worker(subprocess_env, redis_url, *common, "--consumer", "new", "--burst")
    code, _, err = _finish(replacement, 40)
    assert code == 0, err
    wait_for(lambda: client.xpending(STREAM, GROUP)["pending"] == 0, 20, what="PEL empty")
    survivor.send_signal(signal.SIGTERM)
    code, _, err = _finish(survivor)
    assert code == 0, err
    assert _rows(db) == 20_000
    assert client.xpending(STREAM, GROUP)["pending"] == 0


def test_three_sigterms_during_a_long_job_do_not_dead_letter_it(
    redis_url: str, client: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    started, record = tmp_path / "started.txt", tmp_path / "record.txt"
    env = {**subprocess_env, "TEST_STARTED": str(started), "TEST_RECORD": str(record)}
    add_events(client, 1)
    args = (
        "--handler",
        "tests.workers.sample_handlers:record",
        "--max-deliveries",
        "2",
        "--max-crashes",
        "1",
        "--shutdown-timeout",
        "0.2",
        "--min-idle",
        "60",
        "--consumer",
        "long",
    )
    for run in range(1, 4):
        proc = start_worker({**env, "TEST_SLEEP_S": "30"}, redis_url, *args)
        try:
            wait_for(lambda: len(_lines(started)) == run, 15, what=f"run {run}")  # noqa: B023
        except AssertionError:
            proc.kill()
            raise AssertionError(proc.communicate()) from None
        proc.send_signal(signal.SIGTERM)
        code, _, err = _finish(proc)
        assert code == 0, err
    proc = start_worker({**env, "TEST_SLEEP_S": "0"}, redis_url, *args, "--burst")
    code, _, err = _finish(proc)
    assert code == 0, err
    assert _lines(record) == ["e0"]
    assert dead_letters(client) == []


def test_a_worker_with_three_slots_busy_leaves_the_other_seven_to_an_idle_worker(
    redis_url: str, client: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    started, record = tmp_path / "started.txt", tmp_path / "record.txt"
    env = {**subprocess_env, "TEST_STARTED": str(started), "TEST_RECORD": str(record)}
    add_events(client, 10)
    # Given: a worker whose three slots are busy with slow handlers (batch 10)
    slow = start_worker(
        {**env, "TEST_SLEEP_S": "3"},
        redis_url,
        "--handler",
        "tests.workers.sample_handlers:record",
        "--concurrency",
        "3",
        "--batch",
        "10",
        "--shutdown-timeout",
        "10",
        "--consumer",
        "slow",
    )
    wait_for(lambda: len(_lines(started)) == 3, 15, what="three in flight")
    # When: an idle worker starts
    fast = start_worker(
        {**env, "TEST_SLEEP_S": "0"},
        redis_url,
        "--handler",
        "tests.workers.sample_handlers:record",
        "--min-idle",
        "60",
        "--claim-interval",
        "0.2",
        "--consumer",
        "fast",
    )
    # Then: it handles the seven the busy one never read (read-ahead is bounded by free
    # slots) while the three still run
    wait_for(lambda: len(_lines(record)) >= 7, 10, what="seven handled by the idle worker")
    assert len(_lines(record)) < 10
    slow.send_signal(signal.SIGTERM)
    code, out, err = _finish(slow)
    assert code == 0, err
    assert summary_of(out)["acked"] == 3
    assert summary_of(out)["released"] == 0
    wait_for(lambda: client.xpending(STREAM, GROUP)["pending"] == 0, 10, what="all acked")
    fast.send_signal(signal.SIGTERM)
    assert _finish(fast)[0] == 0
    assert sorted(_lines(record)) == sorted(f"e{i}" for i in range(10))


def test_second_signal_exits_at_once_and_systemd_hears_ready_and_stopping(
    redis_url: str, client: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    started = tmp_path / "started.txt"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(15)
    env = {
        **subprocess_env,
        "TEST_STARTED": str(started),
        "TEST_SLEEP_S": "30",
        "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
    }
    add_events(client, 1)
    proc = start_worker(
        env,
        redis_url,
        "--handler",
        "tests.workers.sample_handlers:record_sync",
        "--shutdown-timeout",
        "30",
    )
    messages = [notify.recv(4096).decode()]
    assert messages[0].startswith("READY=1")
    wait_for(lambda: _lines(started), 15, what="job started")
    proc.send_signal(signal.SIGTERM)
    while not messages[-1].startswith("STOPPING=1"):
        messages.append(notify.recv(4096).decode())
    proc.send_signal(signal.SIGTERM)
    code, _, _ = _finish(proc, 5)
    notify.close()
    assert code == 128 + signal.SIGTERM


def test_redis_restart_with_aof_mid_run_loses_nothing(
    make_redis_server: object, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    server: RedisServer = make_redis_server(appendonly=True)  # type: ignore[operator]
    client = redis.Redis.from_url(server.url, decode_responses=True)
    db = tmp_path / "sink.db"
    add_events(client, 3000)
    worker = start_worker(
        subprocess_env,
        server.url,
        "--sink",
        f"sqlite:///{db}",
        "--batch",
        "20",
        "--min-idle",
        "1",
        "--claim-interval",
        "0.3",
    )
    wait_for(lambda: _rows(db) >= 300, 20, what="worker busy")
    server.restart()
    add_events(client, 1000, prefix="after")
    wait_for(lambda: _rows(db) == 4000, 30, what="everything stored")
    wait_for(lambda: client.xpending(STREAM, GROUP)["pending"] == 0, 20, what="all acked")
    worker.send_signal(signal.SIGTERM)
    code, _, err = _finish(worker)
    client.close()
    assert code == 0, err


def test_burst_worker_finishes_when_lag_is_nil(
    redis_url: str, client: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Given: a group whose lag Redis cannot tell (an XDEL of an entry it has not read yet)
    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    ids = add_events(client, 5)
    client.xdel(STREAM, ids[2])
    assert client.xinfo_groups(STREAM)[0]["lag"] is None

    # When: a burst worker drains it
    proc = start_worker(
        subprocess_env, redis_url, "--burst", "--sink", f"sqlite:///{tmp_path}/s.db"
    )
    code, out, err = _finish(proc, 30)

    # Then: it exits 0 with the 4 remaining events stored
    assert code == 0, err
    assert summary_of(out)["inserted"] == 4


def test_burst_worker_restarted_under_a_new_name_after_sigkill_takes_the_entries_over(
    redis_url: str, client: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Given: a worker killed with SIGKILL while its entries are pending (liveness TTL 2 s)
    record = tmp_path / "record.txt"
    env = {**subprocess_env, "TEST_RECORD": str(record), "TEST_SLEEP_S": "5"}
    client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    add_events(client, 10)
    handler = ("--handler", "tests.workers.sample_handlers:record")
    first = start_worker(
        env, redis_url, *handler, "--consumer", "w-old", "--concurrency", "10",
        "--liveness-ttl", "2",
    )  # fmt: skip
    wait_for(lambda: client.xpending(STREAM, GROUP)["pending"] == 10, 15, what="10 read")
    _kill(first)
    env["TEST_SLEEP_S"] = "0"

    # When: a burst worker starts under a new name (min-idle 60 s) at INFO
    second = start_worker(
        env, redis_url, *handler, "--consumer", "w-new", "--burst", "--min-idle", "60",
        "--log-level", "INFO",
    )  # fmt: skip
    code, out, err = _finish(second, 30)

    # Then: it said at most once what it waited for, took the entries over at once when the
    # key expired (one WARNING naming the dead consumer, however many steps it took as its
    # slots freed up), and exited 0
    waiting = [line for line in err.splitlines() if "burst: waiting for" in line]
    assert len(waiting) <= 1, err
    takeovers = [line for line in err.splitlines() if "is dead (its liveness key expired)" in line]
    assert len(takeovers) == 1, err
    assert "consumer w-old is dead" in takeovers[0]
    assert "w-new takes over its 10 pending entries" in takeovers[0]
    assert code == 0, err
    assert summary_of(out)["claimed"] == 10
    assert summary_of(out)["taken_over"] == 10
    assert client.xpending(STREAM, GROUP)["pending"] == 0
