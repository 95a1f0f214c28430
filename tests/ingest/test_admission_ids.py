"""Entry IDs beyond 2^53 in the admission function: compared and bounded exactly, not as doubles."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from ingest import admission
from ingest.backlog import MAX_ENTRY_ID
from tests.ingest.backlogs import backlog_of, worst_of

pytestmark = pytest.mark.redis

STREAM = "ingest:events"
BIG = 2**55  # doubles are 8 apart here: BIG + 5, 6 and 7 all round to BIG + 8
MAX_SEQ = 2**64 - 1


def add(client: redis.Redis, *ids: str) -> None:
    for entry_id in ids:
        client.xadd(STREAM, {"k": "v"}, id=entry_id)


def deliver(client: redis.Redis, count: int, *, ack: bool = True) -> list[str]:
    reply: Any = client.xreadgroup("workers", "c", {STREAM: ">"}, count=count)
    ids = [str(entry_id) for entry_id, _ in reply[0][1]]
    if ack:
        client.xack(STREAM, "workers", *ids)
    return ids


def batch() -> list[dict[str, str]]:
    return [{"k": "new"}]


def test_undelivered_entries_with_seq_above_2_53_are_not_trimmed(client):
    admission.ensure_loaded(client)
    ids = [f"5-{BIG + 5}", f"5-{BIG + 6}", f"5-{BIG + 7}"]
    add(client, *ids)
    client.xgroup_create(STREAM, "workers", id="0")
    assert deliver(client, 1) == ids[:1]
    result = admission.admit(client, STREAM, batch(), maxlen=3, limit=100)
    assert result.admitted
    assert client.xlen(STREAM) == 3
    assert [i for i, _ in client.xrange(STREAM)] == [*ids[1:], result.first_id]


def test_pending_entry_with_seq_above_2_53_is_not_trimmed(client):
    admission.ensure_loaded(client)
    ids = [f"5-{BIG + 5}", f"5-{BIG + 6}", f"5-{BIG + 7}"]
    add(client, *ids)
    client.xgroup_create(STREAM, "workers", id="0")
    deliver(client, 1)
    deliver(client, 2, ack=False)  # all delivered; the last two stay pending
    result = admission.admit(client, STREAM, batch(), maxlen=3, limit=100)
    assert result.admitted
    assert [i for i, _ in client.xrange(STREAM)][:2] == ids[1:]
    refused = admission.admit(client, STREAM, batch(), maxlen=3, limit=100)
    assert (refused.admitted, refused.reason) == (False, "cap")


def test_last_delivered_seq_2_64_minus_1_trims_without_script_error(client):
    admission.ensure_loaded(client)
    ids = [f"5-{MAX_SEQ - 1}", f"5-{MAX_SEQ}", "6-0"]
    add(client, *ids)
    client.xgroup_create(STREAM, "workers", id="0")
    assert deliver(client, 2) == ids[:2]
    info = client.xinfo_groups(STREAM)[0]
    assert info["last-delivered-id"] == f"5-{MAX_SEQ}"
    result = admission.admit(client, STREAM, batch(), maxlen=3, limit=100)
    assert result.admitted
    assert client.xlen(STREAM) <= 3
    assert [i for i, _ in client.xrange(STREAM)] == ["6-0", result.first_id]


def test_all_delivered_and_acknowledged_up_to_seq_2_64_minus_1_trims_to_the_cap(client):
    admission.ensure_loaded(client)
    add(client, f"5-{MAX_SEQ - 1}", f"5-{MAX_SEQ}")
    client.xgroup_create(STREAM, "workers", id="0")
    deliver(client, 2)
    for _ in range(3):
        result = admission.admit(client, STREAM, batch(), maxlen=2, limit=100)
        assert result.admitted
        assert client.xlen(STREAM) == 2
        deliver(client, 1)


def test_largest_possible_id_as_last_delivered_reads_nothing_after_it(client):
    admission.ensure_loaded(client)
    add(client, MAX_ENTRY_ID)
    client.xgroup_create(STREAM, "workers", id="0")
    deliver(client, 1, ack=False)
    with pytest.raises(redis.ResponseError, match="invalid start ID"):
        client.xrange(STREAM, f"({MAX_ENTRY_ID}", "+")  # why both sides guard it
    result = admission.admit(client, STREAM, batch(), maxlen=1, limit=100)
    assert (result.admitted, result.reason, result.backlog) == (False, "cap", 1)
    assert backlog_of(client, STREAM) == 1
    assert client.xlen(STREAM) == 1


def test_lua_and_python_agree_on_before_first_above_2_53(client):
    admission.ensure_loaded(client)
    ids = [f"5-{BIG + 5}", f"5-{BIG + 6}", f"5-{BIG + 7}"]
    add(client, *ids)
    client.xgroup_create(STREAM, "workers", id="0")
    deliver(client, 1)
    client.xtrim(
        STREAM, minid=ids[1], approximate=False
    )  # the group's last-delivered ID is now before the first
    worst = worst_of(client, STREAM)
    assert worst is not None
    assert worst.undelivered_source == "before-first"
    result = admission.admit(client, STREAM, batch(), maxlen=10, limit=100)
    assert (result.backlog, result.lag_source) == (worst.backlog, "before-first")
