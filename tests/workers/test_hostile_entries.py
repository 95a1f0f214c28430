"""Each named kind of hostile entry, on a real redis-server: it is dead-lettered with its
reason and its original bytes, and the good entries around it are handled once.

(Found by trying: a byte that is not UTF-8 or JSON nested 1,030 deep crashed every restart;
an entry of ~4,000 fields without ``v`` was acknowledged and then lost by the dead-letter
script; NaN reached the sink as invalid JSON.)
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

from ingest.codec import Event
from tests.workers.hostile import Fields, dead_letters, good_fields, raw_client, xadd
from tests.workers.util import GROUP, STREAM, running, settings_for, wait_async


async def _drain(redis_url: str, hostile: Fields, **settings: Any) -> tuple[list[str], Any]:
    """Write good, hostile, good; run a worker until all three are settled. Returns the
    handled event IDs and the dead letters."""
    client = raw_client(redis_url)
    xadd(client, good_fields("g1"))
    bad_id = xadd(client, hostile)
    xadd(client, good_fields("g2"))
    handled: list[str] = []

    async def handle(event: Event) -> None:
        handled.append(event.event_id)

    async with running(settings_for(redis_url, **settings), handle) as runner:
        await wait_async(
            lambda: runner.stats.acked == 2 and runner.stats.dead_lettered == 1, what="settled"
        )
    assert client.xpending(STREAM, GROUP)["pending"] == 0
    dead = dead_letters(client)
    client.close()
    assert list(dead) == [bad_id]
    return sorted(handled), dead[bad_id]


def _with(fields: Fields, name: bytes, value: bytes) -> Fields:
    return [(k, value if k == name else v) for k, v in fields]


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        (b"data", b'{"t": "\xff"}', "field 'data' is not UTF-8"),
        (b"event_id", b"sensor-\xc3", "field 'event_id' is not UTF-8"),
        (b"data", b"[" * 1030 + b"]" * 1030, "nested too deeply"),
        (b"data", b"[" * 2048, "nested too deeply"),
        (b"data", b'{"a":NaN}', "NaN is not JSON"),
        (b"data", b'{"a":Infinity}', "Infinity is not JSON"),
        (b"data", b'"\\ud800"', "escaped lone surrogate"),
    ],
)
async def test_undecodable_entry_is_dead_lettered_byte_for_byte(
    redis_url: str, name: bytes, value: bytes, error: str
) -> None:
    hostile = _with(good_fields("bad"), name, value)

    handled, (original, meta) = await _drain(redis_url, hostile)

    assert handled == ["g1", "g2"]
    assert original == hostile
    assert meta[b"dead_reason"] == b"decode"
    assert error in meta[b"dead_error"].decode()


async def test_a_field_name_that_is_not_utf8_is_refused_and_kept(redis_url: str) -> None:
    hostile = [*good_fields("bad"), (b"\xfe\xff", b"x")]

    handled, (original, meta) = await _drain(redis_url, hostile)

    assert handled == ["g1", "g2"]
    assert original == hostile
    assert meta[b"dead_reason"] == b"decode"
    assert "\\xfe\\xff" in meta[b"dead_error"].decode()


def _many(count: int) -> Fields:
    return [(b"f%d" % i, b"v%d" % i) for i in range(count)]


async def test_four_thousand_fields_without_v_are_too_large_and_packed_whole(
    redis_url: str,
) -> None:
    # Given: ~4,000 fields and no envelope (the default --max-fields is 1,000)
    hostile = _many(4000)

    handled, (original, meta) = await _drain(redis_url, hostile)

    # Then: too_large, and every field is in dead_original (netstrings), in order
    assert handled == ["g1", "g2"]
    assert meta[b"dead_reason"] == b"too_large"
    assert b"4000 fields" in meta[b"dead_error"]
    assert original == hostile


async def test_four_thousand_fields_under_a_higher_limit_are_a_decode_error_packed_whole(
    redis_url: str,
) -> None:
    hostile = _many(4000)

    handled, (original, meta) = await _drain(redis_url, hostile, max_fields=5000)

    assert handled == ["g1", "g2"]
    assert meta[b"dead_reason"] == b"decode"
    assert original == hostile


async def test_two_thousand_fields_are_copied_as_they_are(redis_url: str) -> None:
    hostile = _many(2000)

    handled, (original, meta) = await _drain(redis_url, hostile, max_fields=5000)

    assert handled == ["g1", "g2"]
    assert original == hostile
    assert b"dead_original" not in meta
    client = raw_client(redis_url)
    copies: Any = client.xrange("{ingest:events}:dead")
    [(_, copy)] = copies
    assert len(copy) == 2000 + 10  # the fields as they are, plus the dead_* fields
    client.close()


async def test_an_entry_holding_dead_fields_of_its_own_is_packed_so_nothing_is_overwritten(
    redis_url: str,
) -> None:
    hostile = [(b"dead_reason", b"mine"), (b"data", b"x")]

    _, (original, meta) = await _drain(redis_url, hostile)

    assert original == hostile
    assert meta[b"dead_reason"] == b"decode"


async def test_an_entry_over_the_size_limit_is_too_large_and_never_read_whole(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: a 300 KB payload with --max-event-bytes 100 KB (the limit is that + 64 KiB)
    hostile = _with(good_fields("big"), b"data", b'"' + b"x" * 300_000 + b'"')

    handled, (original, meta) = await _drain(redis_url, hostile, max_event_bytes=100_000)

    assert handled == ["g1", "g2"]
    assert meta[b"dead_reason"] == b"too_large"
    assert b"above the limit of 165536" in meta[b"dead_error"]
    assert original == hostile
