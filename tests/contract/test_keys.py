from __future__ import annotations

import pytest
from redis.crc import key_slot

from ingest.errors import ConfigError
from ingest.keys import StreamKeys, hash_tag


@pytest.mark.parametrize("stream", ["ingest:events", "{orders}:events", "a", "x:{y}:z"])
def test_derived_keys_share_the_stream_hash_slot(stream: str) -> None:
    keys = StreamKeys(stream)
    slot = key_slot(stream.encode())
    derived = [
        keys.dead_letter_stream,
        keys.attempts("workers"),
        keys.consumer_alive("workers", "host-1"),
    ]
    assert [key_slot(k.encode()) for k in derived] == [slot] * len(derived)
    assert len(set(derived)) == len(derived)


def test_default_dead_letter_key_is_readable() -> None:
    assert StreamKeys("ingest:events").dead_letter_stream == "{ingest:events}:dead"
    assert StreamKeys("{orders}:events").dead_letter_stream == "{orders}:events:dead"


@pytest.mark.parametrize("stream", ["", "a{}b", "a{b"])
def test_stream_names_whose_keys_could_not_share_a_slot_are_refused(stream: str) -> None:
    with pytest.raises(ConfigError, match="INGEST_STREAM"):
        StreamKeys(stream)


def test_hash_tag_follows_the_cluster_spec() -> None:
    assert hash_tag("{user1000}.following") == "user1000"
    assert hash_tag("foo{}{bar}") is None
    assert hash_tag("foo{{bar}}zap") == "{bar"
    assert hash_tag("plain") is None
