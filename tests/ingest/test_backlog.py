"""The backlog arithmetic (pure): lag + pending, never a nil lag read as 0."""

from __future__ import annotations

import pytest

from ingest.backlog import Backlog, GroupBacklog, group_backlog
from ingest.streams import EntryId, GroupInfo


def info(last: str, lag: int | None, pending: int = 0) -> GroupInfo:
    return GroupInfo("g", 1, pending, EntryId(last), entries_read=None, lag=lag)


def test_backlog_is_lag_plus_pending():
    row = group_backlog(info("5-0", lag=10, pending=3), length=20, first_id="1-0")
    assert (row.lag, row.pending, row.backlog, row.lag_source) == (10, 3, 13, "redis")
    assert not row.lag_estimated


def test_stale_lag_behind_the_first_entry_becomes_xlen():
    # XTRIM removed undelivered entries: Redis still reports the old lag (90).
    row = group_backlog(info("5-0", lag=90), length=20, first_id="50-0")
    assert (row.lag, row.lag_source) == (20, "before-first")


def test_lag_is_clamped_to_xlen():
    row = group_backlog(info("60-0", lag=90), length=20, first_id="50-0")
    assert row.lag == 20


def test_nil_lag_needs_a_count_and_is_never_zero():
    with pytest.raises(ValueError, match="nil"):
        group_backlog(info("60-0", lag=None), length=20, first_id="50-0")
    row = group_backlog(
        info("60-0", lag=None, pending=2), length=20, first_id="50-0", counted_lag=7
    )
    assert (row.backlog, row.lag_source, row.lag_estimated) == (9, "counted", True)


def test_largest_group_counts_and_no_group_depends_on_mode():
    rows = (GroupBacklog("a", 1, 1, 2, "redis"), GroupBacklog("b", 5, 0, 5, "redis"))
    assert Backlog("s", 10, rows).backlog == 5
    assert Backlog("s", 10, rows).worst == rows[1]
    assert Backlog("s", 10, (), "block").backlog == 10
    assert Backlog("s", 10, (), "trim").backlog == 0
