"""An entry that takes its worker down ends in the dead-letter stream (reason ``crashed``)
after ``--max-crashes`` crashed deliveries, and takes no other entry with it; graceful
interruptions never count. Real worker processes restarted under one consumer name, as
systemd's ``ingest-worker@`` does."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest
import redis

from tests.workers.util import GROUP, STREAM, add_events, dead_letters, worker_cmd

pytestmark = pytest.mark.slow


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_a_handler_that_kills_its_process_is_dead_lettered_after_max_crashes(
    redis_url: str, client: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Given: six events, the handler of e2 kills its own process (os._exit)
    record = tmp_path / "record.txt"
    env = {**subprocess_env, "TEST_RECORD": str(record), "TEST_CRASH_ON": "e2"}
    add_events(client, 6)
    args = (
        "--handler", "tests.workers.sample_handlers:crash_on", "--consumer", "w1",
        "--concurrency", "2", "--max-crashes", "2", "--burst",
    )  # fmt: skip

    # When: the worker is restarted under the same name after every crash, like systemd
    codes = []
    for _ in range(6):
        run = subprocess.run(
            worker_cmd(redis_url, *args), env=env, capture_output=True, text=True, timeout=60
        )
        codes.append(run.returncode)
        if run.returncode == 0:
            break

    # Then: two crashed runs, then e2 dead-lettered as crashed and the run finished
    assert codes == [17, 17, 0], run.stderr[-3000:]
    [(_, fields)] = dead_letters(client)
    assert (fields["event_id"], fields["dead_reason"]) == ("e2", "crashed")
    assert fields["dead_delivery_count"] == "3"
    assert "2 earlier deliveries ended with the worker dying" in fields["dead_error"]
    # ... and every other event was handled (at least once: a neighbour may have finished
    # just before the crash without its XACK), none dead-lettered
    handled = Counter(_lines(record))
    assert set(handled) == {"e0", "e1", "e3", "e4", "e5"}
    assert client.xpending(STREAM, GROUP)["pending"] == 0
