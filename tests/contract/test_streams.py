"""Reply parsers against the shapes real Redis 7 (via redis-py) and raw RESP lists produce."""

from __future__ import annotations

import pytest
import redis

from ingest.streams import (
    next_entry_id,
    parse_autoclaim,
    parse_consumers,
    parse_groups,
    parse_pending_range,
    parse_read_reply,
)

pytestmark = pytest.mark.redis


def test_autoclaim_reports_entries_deleted_while_pending(client: redis.Redis) -> None:
    ids = [client.xadd("s", {"n": str(i)}) for i in range(3)]
    client.xgroup_create("s", "g", id="0")
    client.xreadgroup("g", "dead", {"s": ">"}, count=3)
    client.xdel("s", ids[1])
    page = parse_autoclaim(client.xautoclaim("s", "g", "alive", min_idle_time=0, count=10))
    assert [e.entry_id for e in page.claimed] == [ids[0], ids[2]]
    assert page.claimed[0].fields == {"n": "0"}
    assert page.deleted_ids == [ids[1]]
    assert page.cursor == "0-0"


def test_autoclaim_raw_three_element_reply() -> None:
    page = parse_autoclaim(["5-0", [["1-0", ["a", "b"]]], ["2-0"]])
    assert page.cursor == "5-0"
    assert page.claimed[0].fields == {"a": "b"}
    assert page.deleted_ids == ["2-0"]


def test_autoclaim_redis_62_nil_entries_count_as_deleted() -> None:
    page = parse_autoclaim([b"0-0", [(b"1-0", {b"a": b"b"}), (None, None), ["3-0", None]]])
    assert [e.entry_id for e in page.claimed] == ["1-0"]
    assert page.deleted_ids == ["3-0"]


def test_groups_lag_nil_after_xdel_is_none_not_zero(client: redis.Redis) -> None:
    client.xgroup_create("s", "g", id="0", mkstream=True)
    ids = [client.xadd("s", {"n": str(i)}) for i in range(4)]
    client.xreadgroup("g", "c", {"s": ">"}, count=1)
    (group,) = parse_groups(client.xinfo_groups("s"))
    assert (group.name, group.pending, group.lag) == ("g", 1, 3)
    client.xdel("s", ids[2])
    (group,) = parse_groups(client.xinfo_groups("s"))
    assert group.lag is None
    assert group.last_delivered_id == ids[0]


def test_pending_consumers_and_read_reply(client: redis.Redis) -> None:
    client.xgroup_create("s", "g", id="0", mkstream=True)
    first = client.xadd("s", {"k": "v"})
    ((stream, entries),) = parse_read_reply(client.xreadgroup("g", "c1", {"s": ">"}, count=5))
    assert stream == "s"
    assert entries[0].entry_id == first
    assert entries[0].fields == {"k": "v"}
    (row,) = parse_pending_range(client.xpending_range("s", "g", "-", "+", 10))
    assert (row.entry_id, row.consumer, row.delivery_count) == (first, "c1", 1)
    (consumer,) = parse_consumers(client.xinfo_consumers("s", "g"))
    assert (consumer.name, consumer.pending) == ("c1", 1)
    assert parse_read_reply(None) == []


def test_next_entry_id_is_exclusive_start() -> None:
    assert next_entry_id("5-3") == "5-4"
    assert next_entry_id("7") == "7-1"
    assert next_entry_id(f"5-{2**64 - 1}") == "6-0"
