"""The producer's progress line on a real redis-server: it keeps moving while blocked."""

from __future__ import annotations

import io

import pytest
import redis
from rich.console import Console

from ingest.codec import Event
from ingest.errors import BackpressureTimeout
from ingest.produce import Run, StopFlag, make_progress
from ingest.producer import Producer
from ingest.settings import ProducerSettings, RedisSettings

pytestmark = pytest.mark.redis

STREAM = "ingest:events"


class FakeTime:
    """A monotonic clock that only moves when the producer sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def terminal(out: io.StringIO | None = None) -> Console:
    return Console(file=out or io.StringIO(), force_terminal=True, width=120, color_system=None)


def test_progress_is_none_off_a_terminal_and_a_bar_on_one():
    assert make_progress(Console(file=io.StringIO(), force_terminal=False)) is None
    assert make_progress(terminal()) is not None


def test_progress_shows_backlog_and_blocked_time_while_waiting(redis_url, client: redis.Redis):
    # Given: a group with 10 undelivered entries, above the high-water mark of 5
    for i in range(10):
        client.xadd(STREAM, {"n": str(i)})
    client.xgroup_create(STREAM, "workers", id="0")
    settings = ProducerSettings(
        redis=RedisSettings(redis_url, connect_timeout_s=5),
        maxlen=100,
        high_water=5,
        batch_size=2,
        max_block_s=2.0,
    )
    fake = FakeTime()
    producer = Producer(client, settings, sleep=fake.sleep, clock=fake.clock)
    out = io.StringIO()
    console = terminal(out)
    progress = make_progress(console)
    assert progress is not None
    run = Run(producer, settings, StopFlag(), None, progress)
    shown: list[tuple[int, float]] = []
    refresh = producer.on_wait
    assert refresh is not None

    def spy(backlog: int, blocked_s: float) -> None:
        shown.append((backlog, blocked_s))
        refresh(backlog, blocked_s)

    producer.on_wait = spy
    events = [(n, Event(f"e:{n}", {"n": n}, source="t")) for n in (1, 2)]
    # When: a batch is refused until --max-block runs out (2 fake seconds)
    with pytest.raises(BackpressureTimeout):
        run.feed(iter(events))
    # Then: the line was refreshed on each backoff step with the backlog and the time so far
    assert len(shown) > 5
    assert all(backlog == 10 for backlog, _ in shown)
    blocked = [seconds for _, seconds in shown]
    assert blocked == sorted(blocked)
    assert blocked[0] == 0.0
    assert blocked[-1] == pytest.approx(2.0)
    fields = progress.tasks[0].fields
    assert fields["backlog"] == 10
    assert fields["blocked"] == pytest.approx(2.0)
    console.print(progress.get_renderable())
    text = out.getvalue()
    assert "backlog        10" in text
    assert "blocked 2.0 s" in text
