"""The backlog rule (pure): what is really after the last-delivered ID, never a stale counter."""

from __future__ import annotations

from ingest.backlog import (
    MAX_ENTRY_ID,
    PROBE,
    Probe,
    Undelivered,
    after_count,
    repaired_entries_read,
    stream_backlog,
    undelivered,
)


def decide(lag: int | None, last: str = "60-0", length: int = 1000, **kw) -> Undelivered | Probe:
    return undelivered(lag=lag, last_delivered_id=last, length=length, first_id="50-0", **kw)


def test_an_empty_stream_has_nothing_undelivered_whatever_the_counter_says():
    result = undelivered(lag=7, last_delivered_id="9-0", length=0, first_id=None)
    assert result == Undelivered(0, "empty", stale=True)


def test_a_group_behind_the_first_entry_has_every_entry_undelivered():
    # XTRIM removed undelivered entries: Redis still reports the old lag (90).
    assert decide(90, last="5-0", length=20) == Undelivered(20, "before-first", stale=True)
    assert decide(20, last="5-0", length=20) == Undelivered(20, "before-first", stale=False)


def test_the_first_probe_reads_one_more_than_the_counter_says_up_to_the_bound():
    assert decide(10) == Probe("after", 11)
    assert decide(10**6) == Probe("after", PROBE)
    assert decide(None) == Probe("after", PROBE)
    assert after_count(PROBE - 1) == PROBE


def test_nothing_after_the_last_delivered_id_is_zero_and_proves_a_phantom_lag():
    # The Redis 7.0 AOF restart: lag 50,000 with last-delivered == last-generated.
    result = decide(50_000, after=0)
    assert result == Undelivered(0, "caught-up", stale=True)
    assert result.repairable
    assert repaired_entries_read(50_000, 100_000, result) == 150_000


def test_a_group_at_the_last_entry_needs_no_probe():
    assert decide(50_000, last="90-0", last_id="90-0") == Undelivered(0, "caught-up", True)
    assert decide(None, last=MAX_ENTRY_ID) == Undelivered(0, "caught-up", False)


def test_a_short_count_is_exact_and_checks_the_counter():
    assert decide(10, after=10) == Undelivered(10, "redis", stale=False)
    stale = decide(500, after=40)
    assert stale == Undelivered(40, "counted", stale=True)
    assert repaired_entries_read(500, 1000, stale) == 1460
    assert decide(None, after=40) == Undelivered(40, "counted", stale=False)


def test_a_full_probe_keeps_redis_lag_clamped_to_xlen_at_least_the_probe():
    assert decide(5000, length=9000, after=PROBE) == Undelivered(5000, "redis", stale=False)
    too_high = decide(5000, length=700, after=PROBE)
    assert too_high == Undelivered(700, "redis", stale=True)
    assert not too_high.repairable  # not exact: the counter is left as it is


def test_a_nil_or_too_low_counter_with_a_full_probe_counts_the_other_side():
    assert decide(None, after=PROBE) == Probe("before", PROBE)
    assert decide(None, after=PROBE, before=30) == Undelivered(970, "counted", stale=False)
    bound = decide(None, after=PROBE, before=PROBE)
    assert bound == Undelivered(PROBE, "counted-bound", stale=False)
    assert bound.lower_bound
    low = decide(3, after=4, before=PROBE)
    assert low == Undelivered(4, "counted-bound", stale=True)
    assert not low.repairable


def test_nothing_to_repair_when_the_counter_is_nil_right_or_unknown():
    assert repaired_entries_read(None, 5, Undelivered(3, "counted")) is None
    assert repaired_entries_read(3, None, Undelivered(0, "caught-up", True)) is None
    assert repaired_entries_read(3, 7, Undelivered(3, "redis")) is None


def test_largest_group_counts_and_no_group_depends_on_mode():
    assert stream_backlog([2, 5], length=10) == 5
    assert stream_backlog([], length=10, no_group="block") == 10
    assert stream_backlog([], length=10, no_group="trim") == 0
