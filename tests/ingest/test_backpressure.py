"""Watermarks, the hysteresis gate and the bounded wait (pure; injected sleep and clock)."""

from __future__ import annotations

import pytest

from ingest.backpressure import Decision, Gate, Waiter, Watermarks, admits
from ingest.errors import BackpressureTimeout, ConfigError


def test_gate_pauses_at_high_water_and_resumes_at_low_water():
    gate = Gate(Watermarks(800, 640))
    assert gate.decide(799) is Decision.GO
    assert gate.decide(800) is Decision.PAUSE
    assert gate.decide(700) is Decision.PAUSE  # hysteresis: still above low-water
    assert gate.decide(640) is Decision.RESUME
    assert gate.decide(700) is Decision.GO


def test_gate_limit_is_what_the_server_applies():
    gate = Gate(Watermarks(800, 640))
    assert gate.limit == 799
    gate.observe(admitted=False)
    assert gate.limit == 640
    assert not admits(641, gate.limit)
    assert admits(640, gate.limit)
    gate.observe(admitted=True)
    assert gate.limit == 799


def test_watermarks_default_low_is_80_percent_and_checked():
    assert Watermarks.from_high(1000) == Watermarks(1000, 800)
    with pytest.raises(ConfigError):
        Watermarks(100, 100)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def test_waiter_backs_off_exponentially_up_to_a_cap():
    fake = FakeTime()
    waiter = Waiter(Watermarks(800, 640), 100.0, sleep=fake.sleep, clock=fake.clock)
    for _ in range(9):
        waiter.wait(900)
    assert fake.sleeps == [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.5, 0.5, 0.5]


def test_waiter_times_out_with_backlog_and_marks_in_the_message():
    fake = FakeTime()
    waiter = Waiter(Watermarks(800, 640), 2.0, sleep=fake.sleep, clock=fake.clock)
    with pytest.raises(BackpressureTimeout) as info:
        while True:
            waiter.wait(950)
    assert fake.now == pytest.approx(2.0)  # never sleeps past the deadline
    assert info.value.backlog == 950
    message = str(info.value)
    assert "950" in message
    assert "800" in message
    assert "640" in message
