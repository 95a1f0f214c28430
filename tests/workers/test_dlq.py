"""The dead-letter tool on the real redis-server; a replayed event is handled once."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import pytest
import redis

from ingest.codec import Event, encode
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
    # (two slots dead-letter them concurrently: their order in the stream may vary)
    first_id = next(i for i, f in dead_letters(client) if f["event_id"] == "e0")
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
    assert json.loads(capsys.readouterr().out)["fields"]["dead_error"] == "bad reading"
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


# ---- replay goes through the producer's admission (cap, high-water) ----------------------

DEAD = "{ingest:events}:dead"
CONFIG = "{ingest:events}:config"


def _dead_letters(client: redis.Redis, count: int) -> list[str]:
    """``count`` dead-letter entries as the worker writes them (original fields + dead_*)."""
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        fields = encode(Event(f"dead{i}", {"n": i}, source="test"))
        dead = {**fields, "dead_reason": "permanent", "dead_entry_id": f"1-{i}"}
        pipe.xadd(DEAD, dead)  # type: ignore[arg-type]
    return [str(x) for x in pipe.execute()]


def _fill(client: redis.Redis, count: int, *, ack: bool) -> None:
    """``count`` entries in the stream, read by the group (and acknowledged when ``ack``)."""
    add_events(client, count)
    client.xgroup_create(STREAM, "workers", "0")
    read: Any = client.xreadgroup("workers", "c1", {STREAM: ">"}, count=count)
    ids = [entry_id for _, entries in read for entry_id, _ in entries]
    assert len(ids) == count
    if ack:
        client.xack(STREAM, "workers", *ids)


def _record_producer_settings(client: redis.Redis, maxlen: int, high: int, low: int) -> None:
    client.hset(
        CONFIG,
        mapping={
            "maxlen": maxlen,
            "high_water": high,
            "low_water": low,
            "no_group": "block",
            "updated_at_ms": 1,
        },
    )


def test_replay_into_a_full_stream_blocks_then_exits_4_losing_nothing(
    redis_url: str, client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a stream at its recorded cap of 100, every entry pending (nothing may be trimmed)
    _fill(client, 100, ack=False)
    _record_producer_settings(client, maxlen=100, high=100, low=80)
    dead = _dead_letters(client, 3)
    # When all three are replayed with a short --max-block (no cap given on the command line)
    code = main(["--redis-url", redis_url, "replay", "--all", "--max-block", "0.3"], environ={})
    # Then it gave up with exit 4 saying how many were replayed, and nothing was lost
    out, err = capsys.readouterr()
    assert code == 4
    assert "replayed 0 of 3" in err
    assert "backlog 100" in err
    assert json.loads(out)["replayed"] == 0
    assert (json.loads(out)["cap"], json.loads(out)["cap_source"]) == (100, "producer")
    assert client.xlen(STREAM) == 100
    assert [i for i, _ in dead_letters(client)] == dead


def test_replay_stops_where_the_cap_refuses_and_keeps_the_rest_as_dead_letters(
    redis_url: str, client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given room for 5 more entries under the recorded cap, and 10 dead letters
    _fill(client, 95, ack=False)
    _record_producer_settings(client, maxlen=100, high=100, low=80)
    dead = _dead_letters(client, 10)
    # When they are replayed one by one (--rate)
    argv = ["--redis-url", redis_url, "replay", "--all", "--rate", "1000", "--max-block", "0.3"]
    code = main(argv, environ={})
    # Then the first 5 went in, the other 5 are still dead letters, and XLEN is at the cap
    out, err = capsys.readouterr()
    assert code == 4
    assert "replayed 5 of 10" in err
    assert [e["from"] for e in json.loads(out)["entries"]] == dead[:5]
    assert [i for i, _ in dead_letters(client)] == dead[5:]
    assert client.xlen(STREAM) == 100


def test_replay_with_room_trims_acknowledged_entries_and_stays_under_the_cap(
    redis_url: str, client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a stream at 100 entries, all acknowledged, no recorded settings, 100 dead letters
    _fill(client, 100, ack=True)
    dead = _dead_letters(client, 100)
    # When they are replayed with the cap given on the command line
    argv = ["--redis-url", redis_url, "replay", "--all", "--maxlen", "100", "--max-block", "1"]
    assert main(argv, environ={}) == 0
    # Then all were replayed, acknowledged entries made room, and XLEN never passed the cap
    result = json.loads(capsys.readouterr().out)
    assert (result["replayed"], result["cap"], result["cap_source"]) == (100, 100, "option")
    assert [e["from"] for e in result["entries"]] == dead
    assert client.xlen(STREAM) == 100
    assert dead_letters(client) == []
    newest: Any = client.xrange(STREAM)
    assert [e[0] for e in newest] == [e["to"] for e in result["entries"]]
    assert {e[1]["replayed_from"] for e in newest} == set(dead)


def test_empty_list_on_a_terminal_says_so_and_json_stays_an_empty_list(
    redis_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["--redis-url", redis_url, "list", "--json"], environ={}) == 0
    assert json.loads(capsys.readouterr().out) == []

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["--redis-url", redis_url, "list"], environ={}) == 0
    assert capsys.readouterr().out == "no dead letters in {ingest:events}:dead\n"


def _add_dead_letter(client: redis.Redis, entry_id: str, event_id: str) -> None:
    client.xadd(
        "{ingest:events}:dead",
        {
            "event_id": event_id,
            "dead_reason": "max-deliveries",
            "dead_error_type": "RuntimeError",
            "dead_error": "the database refused the row because " * 6,
            "dead_delivery_count": "2",
            "dead_at_ms": "1795951084000",
        },
        id=entry_id,
    )


def test_list_on_an_80_column_terminal_never_cuts_entry_ids(
    redis_url: str,
    client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: two dead letters whose IDs differ only in their last digits, long event IDs
    # and long errors
    ids = ["1795951084712-10", "1795951084712-11"]
    for n, entry_id in enumerate(ids):
        _add_dead_letter(client, entry_id, f"sea_surface_temperature.csv.gz:{19000 + n}")

    # When: they are listed on an 80-column terminal
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["--redis-url", redis_url, "list"], environ={}) == 0
    out = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)

    # Then: the table fits and each whole ID is on the screen, nothing cut with an ellipsis
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in out
    for entry_id in ids:
        assert sum(entry_id in line for line in lines) == 1, out


def test_list_json_gives_counts_as_numbers(
    redis_url: str, client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_dead_letter(client, "1795951084712-10", "e0")
    assert main(["--redis-url", redis_url, "list", "--json"], environ={}) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["deliveries"] == 2
    assert isinstance(row["age_s"], float)
    assert row["id"] == "1795951084712-10"
