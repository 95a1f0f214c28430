"""Reading a dead-letter entry back: packed originals (netstrings) come back whole, byte for
byte, and a replay re-adds the original fields, not an empty entry."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from tests.workers.hostile import raw_client, xadd
from tests.workers.util import running, settings_for, wait_async
from workers import dlq
from workers.dead_format import netstrings, original_fields


def test_netstrings_are_parsed_and_malformed_ones_refused() -> None:
    assert netstrings(b"1:a,0:,3:b:c,") == [b"a", b"", b"b:c"]
    for bad in (b"2:a,", b"x:a,", b"1:ab", b"5"):
        with pytest.raises(ValueError, match="netstring"):
            netstrings(bad)


def test_original_fields_of_a_packed_and_a_plain_dead_letter() -> None:
    packed = "1:v,1:1,4:name,2:\udcff\udcfe,"  # a value of two bytes that are not UTF-8
    assert original_fields({"dead_original": packed, "dead_reason": "decode"}) == {
        "v": "1",
        "name": "\udcff\udcfe",
    }
    assert original_fields({"v": "1", "dead_reason": "decode"}) == {"v": "1"}


async def test_a_replayed_packed_dead_letter_brings_back_every_original_field(
    redis_url: str, client: redis.Redis
) -> None:
    # Given: an entry of 1,200 fields, dead-lettered too_large (so packed)
    raw = raw_client(redis_url)
    fields = [(b"f%d" % i, b"v%d" % i) for i in range(1200)]
    xadd(raw, fields)
    raw.close()

    async def handle(event: Any) -> None:
        return None

    async with running(settings_for(redis_url), handle) as runner:
        await wait_async(lambda: runner.stats.dead_lettered == 1, what="dead-lettered")
    client.delete("ingest:events")  # the replay goes into a fresh stream

    # When: it is replayed (too_large letters are skipped unless asked for)
    assert (
        dlq.main(
            ["--redis-url", redis_url, "replay", "--all", "--include-decode-failures", "--json"], {}
        )
        == 0
    )

    # Then: the re-added entry holds the 1,200 original fields, in order, and the replay notes
    entries: Any = client.xrange("ingest:events")
    [(_, again)] = entries
    originals = [(k, v) for k, v in again.items() if not k.startswith("replay")]
    assert originals == [(k.decode(), v.decode()) for k, v in fields]
    assert again["replayed_reason"] == "too_large"
