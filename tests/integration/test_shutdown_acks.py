"""SIGTERM while a slow sync per-event handler works through a batch: what finished is acked."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest
import redis

from tests.helpers import wait_for
from tests.workers.util import GROUP, STREAM, add_events, start_worker, summary_of

pytestmark = pytest.mark.slow


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_sigterm_acks_finished_sync_events_and_releases_only_the_rest(
    redis_url: str, client: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    started, record = tmp_path / "started.txt", tmp_path / "record.txt"
    env = {**subprocess_env, "TEST_STARTED": str(started), "TEST_RECORD": str(record)}
    add_events(client, 20)
    handler = ("--handler", "tests.workers.sample_handlers:record_sync")
    # Given a worker whose plain sync handler takes 0.5 s per event, 20 events
    slow = start_worker(
        {**env, "TEST_SLEEP_S": "0.5"},
        redis_url,
        *handler,
        "--concurrency",
        "2",
        "--shutdown-timeout",
        "5",
        "--consumer",
        "slow",
    )
    wait_for(lambda: len(_lines(record)) >= 4, 15, what="four events handled")
    # When it gets SIGTERM part-way through the batch
    slow.send_signal(signal.SIGTERM)
    out, err = slow.communicate(timeout=20)
    assert slow.returncode == 0, err
    finished = _lines(record)
    summary = summary_of(out)
    # Then every event that finished is acknowledged, and only the others are released (the
    # worker read no more than its two slots take, so the rest were never delivered)
    assert summary["acked"] == len(finished) >= 4
    assert summary["read"] <= len(finished) + 2
    assert summary["released"] == summary["read"] - len(finished)
    assert summary["held"] == 0
    pending = client.xpending(STREAM, GROUP)["pending"]
    assert pending == summary["released"]

    # And after a restart each event was handled exactly once (none of the acked ones again)
    rest = start_worker(
        {**env, "TEST_SLEEP_S": "0"},
        redis_url,
        *handler,
        "--burst",
        "--consumer",
        "rest",
        "--min-idle",
        "60",
        "--claim-interval",
        "0.2",
    )
    out, err = rest.communicate(timeout=20)
    assert rest.returncode == 0, err
    assert Counter(_lines(record)) == Counter(f"e{i}" for i in range(20))
    assert Counter(_lines(started)) == Counter(f"e{i}" for i in range(20))
    assert client.xpending(STREAM, GROUP)["pending"] == 0
