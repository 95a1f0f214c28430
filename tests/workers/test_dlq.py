"""The dead-letter tool on the real redis-server; a replayed event is handled once."""

from __future__ import annotations

import json

import pytest
import redis

from ingest.codec import Event
from tests.workers.util import STREAM, add_events, dead_letters, running, settings_for, wait_async
from workers.dlq import main, parse_duration_s
from workers.errors import PermanentError


async def _dead_letter_two(redis_url: str, client: redis.Redis) -> None:
    async def reject(event: Event) -> None:
        raise PermanentError("bad reading")

    add_events(client, 2)
    async with running(settings_for(redis_url), reject) as runner:
        await wait_async(lambda: runner.stats.dead_lettered == 2)


async def test_replay_puts_the_event_back_and_it_is_handled_once(
    redis_url: str, client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two dead letters
    await _dead_letter_two(redis_url, client)
    first_id = dead_letters(client)[0][0]
    # When one is replayed
    assert main(["--redis-url", redis_url, "replay", first_id], environ={}) == 0
    assert json.loads(capsys.readouterr().out)["replayed"] == 1
    # Then it left the dead-letter stream and a healthy worker handles it once
    assert [i for i, _ in dead_letters(client)] != [first_id]
    assert len(dead_letters(client)) == 1
    handled: list[Event] = []

    async def handle(event: Event) -> None:
        handled.append(event)

    async with running(settings_for(redis_url), handle) as runner:
        await wait_async(lambda: runner.stats.acked == 1)
    assert [e.event_id for e in handled] == ["e0"]
    replayed: dict[str, str] = client.xrange(STREAM)[-1][1]  # type: ignore[index,assignment]
    assert (replayed["replayed_from"], replayed["replay_count"]) == (first_id, "1")
    assert replayed["replayed_reason"] == "permanent"


async def test_list_show_and_purge(
    redis_url: str, client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    await _dead_letter_two(redis_url, client)
    url = ["--redis-url", redis_url, "--json"]

    assert main([*url, "list"], environ={}) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["event_id"] for r in rows) == ["e0", "e1"]
    assert {r["reason"] for r in rows} == {"permanent"}

    assert main([*url, "show", rows[0]["id"]], environ={}) == 0
    assert json.loads(capsys.readouterr().out)["dead_error"] == "bad reading"
    assert main([*url, "show", "1-1"], environ={}) == 1

    assert main([*url, "purge", "--older-than", "1h"], environ={}) == 0
    assert json.loads(capsys.readouterr().out) == {"purged": 0}
    assert main([*url, "purge", "--all"], environ={}) == 0
    assert json.loads(capsys.readouterr().out) == {"purged": 2}
    assert dead_letters(client) == []


def test_replay_needs_all_or_ids_and_durations_parse() -> None:
    assert main(["--redis-url", "redis://127.0.0.1:1/0", "purge", "--older-than", "soon"], {}) == 2
    assert main(["--redis-url", "redis://127.0.0.1:1/0", "replay"], {}) == 2
    assert parse_duration_s("15m") == 900
    assert parse_duration_s("2") == 2
    with pytest.raises(ValueError, match="not a positive duration"):
        parse_duration_s("0s")


def test_global_options_work_after_the_subcommand_too(
    redis_url: str, client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    # after the subcommand: the URL, the timeout and --json all take effect
    argv = ["list", "--connect-timeout", "2", "--redis-url", redis_url, "--json", "--count", "5"]
    assert main(argv, environ={}) == 0
    assert json.loads(capsys.readouterr().out) == []
    # before it, as before
    assert main(["--redis-url", redis_url, "--json", "list"], environ={}) == 0
    assert json.loads(capsys.readouterr().out) == []
    # a value given after the subcommand is the one used (an unreachable port: exit 3)
    dead = "redis://127.0.0.1:1/0"
    argv = [
        "--redis-url",
        redis_url,
        "show",
        "1-1",
        "--redis-url",
        dead,
        "--connect-timeout",
        "0.2",
    ]
    assert main(argv, environ={}) == 3
    assert "127.0.0.1:1" in capsys.readouterr().err
