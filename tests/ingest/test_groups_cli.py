"""``python -m ingest.groups``: see and delete an abandoned group, repair counters (real server)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import redis

from ingest import admission
from ingest.groups import main

pytestmark = pytest.mark.redis

STREAM = "ingest:events"


@pytest.fixture
def two_groups(client: redis.Redis) -> redis.Redis:
    """``workers`` consumes (one consumer, all acked); ``old`` was abandoned at 0."""
    for n in range(5):
        client.xadd(STREAM, {"n": str(n)})
    client.xgroup_create(STREAM, "workers", id="0")
    client.xgroup_create(STREAM, "old", id="0")
    reply: Any = client.xreadgroup("workers", "w1", {STREAM: ">"}, count=10)
    client.xack(STREAM, "workers", *[entry_id for entry_id, _ in reply[0][1]])
    return client


def run(redis_url: str, *argv: str, ask: Any = None) -> tuple[int, str]:
    out = io.StringIO()
    code = main([*argv, "--redis-url", redis_url], {}, ask=ask or (lambda _: ""), out=out)
    return code, out.getvalue()


def test_list_shows_each_groups_backlog_consumers_and_last_activity(two_groups, redis_url):
    code, out = run(redis_url, "list")
    assert code == 0
    old, workers = out.splitlines()  # XINFO GROUPS lists groups by name
    assert workers.startswith("'workers': backlog 0 (0 undelivered, 0 pending), 1 consumer, ")
    assert "last active" in workers
    assert old == "'old': backlog 5 (5 undelivered, 0 pending), no consumers"
    code, out = run(redis_url, "list", "--json")
    groups = {g["name"]: g for g in json.loads(out)["groups"]}
    assert (groups["old"]["backlog"], groups["old"]["consumers"]) == (5, 0)
    assert groups["workers"]["idle_s"] is not None


def test_delete_asks_first_and_keeps_the_group_unless_confirmed(two_groups, redis_url):
    asked: list[str] = []

    def decline(prompt: str) -> str:
        asked.append(prompt)
        return "n"

    code, out = run(redis_url, "delete", "old", ask=decline)
    assert code == 1
    assert "not deleted" in out
    assert "Delete consumer group 'old'?" in asked[0]
    assert {g["name"] for g in two_groups.xinfo_groups(STREAM)} == {"workers", "old"}
    code, out = run(redis_url, "delete", "old", ask=lambda _: "y")
    assert code == 0
    assert [g["name"] for g in two_groups.xinfo_groups(STREAM)] == ["workers"]
    assert two_groups.xlen(STREAM) == 5  # the entries stay


def test_delete_with_yes_does_not_ask_and_an_unknown_group_is_an_error(two_groups, redis_url):
    def never(_: str) -> str:
        raise AssertionError("asked")

    assert run(redis_url, "delete", "old", "--yes", ask=never)[0] == 0
    assert run(redis_url, "delete", "nope", "--yes")[0] == 1


def test_a_group_name_with_control_characters_is_shown_escaped(client, redis_url):
    client.xgroup_create(STREAM, "evil\x1b[2J\nname", id="0", mkstream=True)
    code, out = run(redis_url, "list")
    assert code == 0
    assert "\x1b" not in out
    assert "\\x1b[2J\\nname" in out


def test_repair_sets_a_stale_counter_right(client, redis_url):
    # Given: a caught-up group whose counter says 7 entries are undelivered
    admission.ensure_loaded(client)
    ids = [client.xadd(STREAM, {"n": str(n)}) for n in range(10)]
    client.xgroup_create(STREAM, "workers", id="0")
    client.xreadgroup("workers", "w", {STREAM: ">"}, count=10)
    raw: Any = client
    raw.execute_command("XGROUP", "SETID", STREAM, "workers", ids[-1], "ENTRIESREAD", 3)
    assert client.xinfo_groups(STREAM)[0]["lag"] == 7
    # When: repaired
    code, out = run(redis_url, "repair")
    # Then
    assert code == 0
    assert "'workers': Redis' lag 7, really 0: repaired" in out
    assert client.xinfo_groups(STREAM)[0]["lag"] == 0
    assert run(redis_url, "repair")[1] == "no stale lag counter\n"
