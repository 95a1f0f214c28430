"""The partition layout and routing rules (pure)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot as redis_key_slot

from ingest.errors import ConfigError
from ingest.partitions import (
    Layout,
    check_count,
    choose_partitions,
    key_slot,
    layout_key,
    partition_name,
    stable_hash,
)


@given(st.text(max_size=40))
def test_key_slot_is_redis_clusters(key: str) -> None:
    data = key.encode("utf-8", "surrogateescape")
    assert key_slot(key) == redis_key_slot(data)


def test_stable_hash_is_fixed_across_processes() -> None:
    # A fixed value: Python's hash() would differ per process (PYTHONHASHSEED).
    assert stable_hash("customer-42") == stable_hash(b"customer-42")
    assert stable_hash("customer-42") == 0x33E0FB1AB541CC2A
    assert stable_hash("a") != stable_hash("b")


def test_partition_names_carry_their_own_tag() -> None:
    assert partition_name("ingest:events", 3) == "{ingest:events.p3}"
    assert partition_name("{orders}:events", 0) == "{orders:events.p0}"
    assert partition_name("ingest:events", 5, generation=2, variant=1) == "{ingest:events.g2.p5.v1}"
    # Different partitions land in different slots (one tag each), the stream's keys in its own.
    assert key_slot(partition_name("s", 0)) != key_slot(partition_name("s", 1))


def test_layout_key_shares_the_logical_streams_slot() -> None:
    assert layout_key("ingest:events") == "{ingest:events}:layout"
    assert key_slot(layout_key("ingest:events")) == key_slot("ingest:events")
    assert layout_key("{orders}:events") == "{orders}:events:layout"


@pytest.mark.parametrize("n", [0, 3, 6, 8192])
def test_counts_must_be_powers_of_two(n: int) -> None:
    with pytest.raises(ConfigError, match="power of two"):
        check_count(n)


def test_single_layout_keeps_todays_name() -> None:
    layout = Layout.single("ingest:events")
    assert layout.partitions == ("ingest:events",)
    assert not layout.partitioned
    assert layout.partition_of("any key") == "ingest:events"
    assert Layout.from_fields("ingest:events", {}) == layout


def test_layout_round_trips_through_its_hash() -> None:
    names = tuple(partition_name("s", i) for i in range(4))
    layout = Layout("s", 1, names, names[:2])
    assert Layout.from_fields("s", layout.to_fields()) == layout


@pytest.mark.parametrize(
    "fields",
    [
        {"version": "9", "partitions": "[]", "generation": "0"},
        {"version": "1", "partitions": "not json", "generation": "0"},
        {"version": "1", "partitions": '["a", 3]', "generation": "0"},
        {"version": "1", "partitions": '["a", "b", "c"]', "generation": "0"},
        {"version": "1", "partitions": '["a"]', "generation": "x"},
    ],
)
def test_a_bad_stored_layout_is_a_config_error_naming_the_key(fields: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"\{s\}:layout"):
        Layout.from_fields("s", fields)


@given(st.text(max_size=20))
def test_doubling_sends_a_keys_events_to_a_child_of_its_partition(key: str) -> None:
    parents = tuple(partition_name("s", i) for i in range(4))
    children = tuple(partition_name("s", i, generation=1) for i in range(8))
    old, new = Layout("s", 0, parents), Layout("s", 1, children, parents)
    assert new.parent_of(new.index_of(key)) == old.partition_of(key)


def test_chosen_partitions_spread_evenly_over_primaries() -> None:
    rng = random.Random(7)
    primaries = [f"node{i}" for i in range(10)]
    # Slots in contiguous even ranges, as redis-cli --cluster create lays them out.
    per = -(-16384 // len(primaries))

    def owner(slot: int) -> str:
        return primaries[slot // per]

    for count in (16, 32, 128):
        names = choose_partitions(f"s{rng.random()}", count, owner, primaries)
        loads = [sum(owner(key_slot(n)) == p for n in names) for p in primaries]
        assert len(set(names)) == count
        assert max(loads) <= -(-count // len(primaries))
