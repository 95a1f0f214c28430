"""The admission function on a real redis-server: atomic admit/refuse, safe trimming, lag."""

from __future__ import annotations

import threading

import pytest
import redis

from ingest import admission
from ingest.codec import Event, encode
from ingest.producer import Producer
from ingest.settings import ProducerSettings, RedisSettings
from tests.helpers import wait_for
from tests.ingest.backlogs import backlog_of, groups_of
from tests.ingest.consumers import AckingConsumer

pytestmark = pytest.mark.redis

STREAM = "ingest:events"


def entries(n: int, start: int = 0) -> list[dict[str, str]]:
    return [encode(Event(f"t:{i}", {"i": i}, source="t")) for i in range(start, start + n)]


def producer(client: redis.Redis, url: str, **kwargs) -> Producer:
    settings = ProducerSettings(redis=RedisSettings(url, connect_timeout_s=2), **kwargs)
    return Producer(client, settings)


def test_function_is_loaded_when_missing_or_older(client):
    assert admission.loaded_version(client) is None
    assert admission.ensure_loaded(client) == admission.LIBRARY_VERSION
    older = admission.library_code().replace(
        f"local VERSION = {admission.LIBRARY_VERSION}", "local VERSION = 0"
    )
    client.function_load(older, replace=True)
    assert admission.loaded_version(client) == 0
    assert admission.ensure_loaded(client) == admission.LIBRARY_VERSION
    assert admission.loaded_version(client) == admission.LIBRARY_VERSION


def test_batch_is_appended_whole_or_refused_with_the_backlog(client):
    admission.ensure_loaded(client)
    client.xgroup_create(STREAM, "workers", id="0", mkstream=True)
    first = admission.admit(client, STREAM, entries(10), maxlen=100, limit=9)
    assert (first.admitted, first.backlog, first.length) == (True, 0, 10)
    refused = admission.admit(client, STREAM, entries(10, 10), maxlen=100, limit=9)
    assert (refused.admitted, refused.backlog, refused.reason) == (False, 10, "high-water")
    assert refused.group == "workers"
    assert client.xlen(STREAM) == 10


def test_unacknowledged_entries_are_never_trimmed_the_batch_is_refused(client):
    admission.ensure_loaded(client)
    client.xgroup_create(STREAM, "workers", id="0", mkstream=True)
    admission.admit(client, STREAM, entries(10), maxlen=10, limit=100)
    client.xreadgroup("workers", "c", {STREAM: ">"}, count=10)  # all pending, none acked
    refused = admission.admit(client, STREAM, entries(1, 10), maxlen=10, limit=100)
    assert (refused.admitted, refused.reason) == (False, "cap")
    ids = [i for i, _ in client.xrange(STREAM)]
    client.xack(STREAM, "workers", *ids[:3])
    admitted = admission.admit(client, STREAM, entries(3, 10), maxlen=10, limit=100)
    assert admitted.admitted
    assert client.xlen(STREAM) == 10
    assert [i for i, _ in client.xrange(STREAM)][:7] == ids[3:]


def test_stalled_consumer_entry_survives_ten_times_the_cap_and_is_claimed(client, redis_url):
    # Given a cap of 1,000 and one entry held (never acked) by a stalled consumer
    client.xgroup_create(STREAM, "workers", id="0", mkstream=True)
    p = producer(client, redis_url, maxlen=1000, high_water=800, batch_size=100, max_block_s=20)
    p.send(Event("held", {"x": 0}, source="t"))
    p.flush()
    held = client.xreadgroup("workers", "stalled", {STREAM: ">"}, count=1)[0][1][0][0]
    fast = AckingConsumer(redis_url, STREAM, "workers", "fast", claim_idle_ms=300)
    lengths: list[int] = []
    held_present: list[bool] = []
    stop = threading.Event()

    def sample() -> None:
        c = redis.Redis.from_url(redis_url, decode_responses=True)
        while not stop.is_set():
            lengths.append(c.xlen(STREAM))
            if fast.seen.count("held") == 0:
                held_present.append(bool(c.xrange(STREAM, held, held)))
        c.close()

    sampler = threading.Thread(target=sample, daemon=True)
    # When 10 x cap newer entries flow through a fast consumer that also claims idle entries
    fast.start()
    sampler.start()
    p.send_many(Event(f"e:{i}", {"i": i}, source="t") for i in range(10_000))
    p.close()
    wait_for(lambda: len(set(fast.seen)) == 10_001, 20, what="every entry processed")
    stop.set()
    sampler.join()
    fast.halt()
    # Then the held entry was never trimmed before it was claimed, nothing was lost
    assert all(held_present)
    assert "held" in fast.seen
    assert max(lengths) <= 1000
    assert p.stats.produced == 10_001


def test_fast_consumers_never_block_the_producer_although_xlen_reaches_the_cap(client, redis_url):
    client.xgroup_create(STREAM, "workers", id="0", mkstream=True)
    consumers = [AckingConsumer(redis_url, STREAM, "workers", f"c{i}", count=1000) for i in (1, 2)]
    for c in consumers:
        c.start()
    p = producer(client, redis_url, maxlen=1000, high_water=900, batch_size=50, max_block_s=20)
    p.send_many(Event(f"e:{i}", {"i": i}, source="t") for i in range(5_000))
    p.close()
    wait_for(lambda: sum(len(c.seen) for c in consumers) == 5_000, 10, what="all consumed")
    for c in consumers:
        c.halt()
    assert p.stats.blocks == 0
    assert client.xlen(STREAM) < 5_000  # the cap was reached and acknowledged entries trimmed
    assert client.xlen(STREAM) <= 1000


def test_nil_lag_after_xdel_is_counted_not_zero(client, redis_url):
    # Given 50 entries, 10 delivered and acked, and an XDEL of an undelivered one: lag is nil
    admission.ensure_loaded(client)
    client.xgroup_create(STREAM, "workers", id="0", mkstream=True)
    admission.admit(client, STREAM, entries(50), maxlen=1000, limit=1000)
    got = client.xreadgroup("workers", "c", {STREAM: ">"}, count=10)[0][1]
    client.xack(STREAM, "workers", *[i for i, _ in got])
    client.xdel(STREAM, client.xrange(STREAM)[-1][0])
    assert client.xinfo_groups(STREAM)[0]["lag"] is None
    assert backlog_of(client, STREAM) == 39
    assert groups_of(client, STREAM)[0].undelivered_source == "counted"
    # Then a producer under a high-water mark of 100 goes on; one of 30 is held back
    p = producer(client, redis_url, maxlen=1000, high_water=100, batch_size=10, max_block_s=0)
    p.send_many(Event(f"n:{i}", {}, source="t") for i in range(10))
    assert p.stats.produced == 10
    refused = admission.admit(client, STREAM, entries(1), maxlen=1000, limit=29)
    assert (refused.admitted, refused.reason, refused.lag_source) == (
        False,
        "high-water",
        "counted",
    )
    assert refused.backlog >= 30


def test_stale_lag_after_xtrim_is_replaced_by_xlen(client, redis_url):
    # Given 100 entries, the group read 10, then an XTRIM left 20: Redis still says lag 90
    admission.ensure_loaded(client)
    client.xgroup_create(STREAM, "workers", id="0", mkstream=True)
    admission.admit(client, STREAM, entries(100), maxlen=1000, limit=1000)
    got = client.xreadgroup("workers", "c", {STREAM: ">"}, count=10)[0][1]
    client.xack(STREAM, "workers", *[i for i, _ in got])
    client.xtrim(STREAM, maxlen=20, approximate=False)
    assert client.xinfo_groups(STREAM)[0]["lag"] == 90
    assert backlog_of(client, STREAM) == 20
    # Then a high-water mark of 50 does not block, one of 15 does
    p = producer(client, redis_url, maxlen=1000, high_water=50, batch_size=10, max_block_s=0)
    p.send_many(Event(f"n:{i}", {}, source="t") for i in range(10))
    assert p.stats.produced == 10
    refused = admission.admit(client, STREAM, entries(1), maxlen=1000, limit=14)
    assert (refused.admitted, refused.backlog) == (False, 30)


def test_no_group_block_mode_counts_every_entry_and_never_trims(client):
    admission.ensure_loaded(client)
    admitted = admission.admit(
        client, STREAM, entries(100), maxlen=150, limit=799, no_group="block"
    )
    assert admitted.admitted
    full = admission.admit(client, STREAM, entries(100), maxlen=150, limit=799, no_group="block")
    assert (full.admitted, full.reason, full.backlog) == (False, "cap", 100)
    held = admission.admit(client, STREAM, entries(10), maxlen=1000, limit=99, no_group="block")
    assert (held.admitted, held.reason) == (False, "high-water")
    assert client.xlen(STREAM) == 100


def test_no_group_trim_mode_trims_freely_at_the_cap(client, redis_url):
    p = producer(client, redis_url, maxlen=1000, high_water=800, batch_size=100, no_group="trim")
    p.send_many(Event(f"e:{i}", {}, source="t") for i in range(5_000))
    p.close()
    assert p.stats.blocks == 0
    assert client.xlen(STREAM) == 1000
    assert client.xrange(STREAM, count=1)[0][1]["event_id"] == "e:4000"
