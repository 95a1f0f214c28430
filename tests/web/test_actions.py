"""Replay, purge, pause and resume change what they should (and only after a confirmation
where one is asked for)."""

from __future__ import annotations

import json
import re

import pytest

from ingest.pause import pause_key
from tests.web.conftest import DEAD, GROUP, STREAM, Web, add_dead, dead_ids

pytestmark = pytest.mark.redis


def _stream_event_ids(client) -> list[str]:
    return [fields["event_id"] for _, fields in client.xrange(STREAM)]


def test_replaying_one_dead_letter_puts_it_back_and_removes_it(web: Web, client):
    client.xgroup_create(STREAM, GROUP, "$", mkstream=True)
    first = add_dead(client, "r1")
    add_dead(client, "r2")

    reply = web.post(
        "/dead/replay", {"csrf": web.csrf(), "stream": STREAM, "scope": "selected", "id": first}
    )

    assert reply.status_code == 200, reply.text
    assert "Replayed 1 dead letter" in reply.text
    assert _stream_event_ids(client) == ["r1"]
    replayed = client.xrange(STREAM)[0][1]
    assert replayed["replayed_from"] == first and "dead_reason" not in replayed
    assert [f["event_id"] for _, f in client.xrange(DEAD)] == ["r2"]


def test_replaying_a_selection_keeps_dead_letter_order(web: Web, client):
    ids = [add_dead(client, f"s{n}") for n in range(4)]

    reply = web.post(
        "/dead/replay",
        [
            ("csrf", web.csrf()),
            ("stream", STREAM),
            ("scope", "selected"),
            ("id", ids[2]),
            ("id", ids[0]),
        ],
    )

    assert reply.status_code == 200, reply.text
    assert _stream_event_ids(client) == ["s0", "s2"]
    assert dead_ids(client) == [ids[1], ids[3]]


def test_decode_failures_are_skipped_unless_asked(web: Web, client):
    bad = add_dead(client, "d1", reason="decode")

    skipped = web.post(
        "/dead/replay", {"csrf": web.csrf(), "stream": STREAM, "scope": "selected", "id": bad}
    )
    assert "Skipped 1 that the worker refused" in skipped.text
    assert dead_ids(client) == [bad]

    done = web.post(
        "/dead/replay",
        {
            "csrf": web.csrf(),
            "stream": STREAM,
            "scope": "selected",
            "id": bad,
            "include_refused": "on",
        },
    )
    assert "Replayed 1 dead letter" in done.text
    assert dead_ids(client) == []


def test_replay_by_filter_asks_first_then_replays_what_matches(web: Web, client):
    add_dead(client, "p1", reason="permanent")
    keep = add_dead(client, "m1", reason="max-deliveries")
    add_dead(client, "p2", reason="permanent")
    form = {"csrf": web.csrf(), "stream": STREAM, "scope": "filter", "reason": "permanent"}

    asked = web.post("/dead/replay", form)
    assert asked.status_code == 200
    assert "Replay 2 dead letters?" in asked.text
    assert len(dead_ids(client)) == 3  # nothing yet

    done = web.post("/dead/replay", {**form, "confirm": "yes"})
    assert "Replayed 2 dead letters" in done.text
    assert _stream_event_ids(client) == ["p1", "p2"]
    assert dead_ids(client) == [keep]


def test_a_replay_of_a_dead_letter_already_gone_says_so(web: Web, client):
    reply = web.post(
        "/dead/replay", {"csrf": web.csrf(), "stream": STREAM, "scope": "selected", "id": "1-1"}
    )

    assert "Not in the dead-letter stream any more" in reply.text
    assert "1-1" in reply.text


def test_replay_waits_on_backpressure_then_reports_what_it_left(make_web, client):
    # Given a stream whose producer recorded a cap it has reached (a group that reads nothing)
    web = make_web(replay_max_block_s=0.2)
    client.xgroup_create(STREAM, GROUP, "0", mkstream=True)
    client.hset(
        "{ingest:events}:config",
        mapping={
            "maxlen": 10,
            "high_water": 5,
            "low_water": 2,
            "no_group": "block",
            "updated_at_ms": 1,
        },
    )
    for n in range(5):
        client.xadd(STREAM, {"event_id": f"full{n}"})
    dead = add_dead(client, "late")

    reply = web.post(
        "/dead/replay", {"csrf": web.csrf(), "stream": STREAM, "scope": "selected", "id": dead}
    )

    assert reply.status_code == 503
    assert "Replayed 0 dead letters" in reply.text
    assert "still in the dead-letter stream" in reply.text
    assert dead_ids(client) == [dead]


def test_purge_asks_for_a_confirmation_then_deletes_the_selection(web: Web, client):
    ids = [add_dead(client, f"g{n}") for n in range(3)]
    form = [
        ("csrf", web.csrf()),
        ("stream", STREAM),
        ("scope", "selected"),
        ("id", ids[0]),
        ("id", ids[2]),
    ]

    asked = web.post("/dead/purge", form)
    assert "Purge 2 dead letters?" in asked.text
    assert dead_ids(client) == ids

    done = web.post("/dead/purge", [*form, ("confirm", "yes")])
    assert done.status_code == 200
    assert "deleted 2 dead letters" in done.text
    assert dead_ids(client) == [ids[1]]


def test_purge_by_filter_deletes_what_matches(web: Web, client):
    keep = add_dead(client, "k1", reason="permanent")
    add_dead(client, "x1", reason="decode")
    add_dead(client, "x2", reason="decode")
    form = {"csrf": web.csrf(), "stream": STREAM, "scope": "filter", "reason": "decode"}

    asked = web.post("/dead/purge", form)
    assert "Purge 2 dead letters?" in asked.text
    done = web.post("/dead/purge", {**form, "confirm": "yes"})

    assert "deleted 2 dead letters" in done.text
    assert dead_ids(client) == [keep]


def test_purge_all_with_an_empty_filter(web: Web, client):
    for n in range(3):
        add_dead(client, f"a{n}")
    form = {"csrf": web.csrf(), "stream": STREAM, "scope": "filter", "confirm": "yes"}

    done = web.post("/dead/purge", form)

    assert "deleted 3 dead letters" in done.text
    assert client.exists(DEAD) == 0


def test_pause_sets_the_flag_and_resume_deletes_it(web: Web, client):
    client.xgroup_create(STREAM, GROUP, "0", mkstream=True)
    key = pause_key(STREAM, GROUP)

    paused = web.post(
        "/pause",
        {
            "csrf": web.csrf(),
            "stream": STREAM,
            "group": GROUP,
            "note": "db migration",
            "next": "%2Fgroups%3Fstream%3Dx",
        },
    )

    assert paused.status_code == 303
    assert paused.headers["location"] == "/groups?stream=x"
    record = json.loads(client.get(key))
    assert record["reason"] == "db migration"
    assert record["by"].startswith("web:operator@")
    assert client.ttl(key) == -1  # until resumed

    resumed = web.post("/resume", {"csrf": web.csrf(), "stream": STREAM, "group": GROUP})

    assert resumed.status_code == 303
    assert client.exists(key) == 0


def test_a_pause_for_some_minutes_expires_by_itself(web: Web, client):
    key = pause_key(STREAM, GROUP)

    web.post("/pause", {"csrf": web.csrf(), "stream": STREAM, "group": GROUP, "minutes": "5"})

    assert 290_000 < client.pttl(key) <= 300_000
    assert "until_ms" in json.loads(client.get(key))


def test_a_bad_pause_duration_is_refused(web: Web, client):
    reply = web.post(
        "/pause", {"csrf": web.csrf(), "stream": STREAM, "group": GROUP, "minutes": "-3"}
    )

    assert reply.status_code == 400
    assert client.exists(pause_key(STREAM, GROUP)) == 0


def test_next_never_leaves_the_dashboard(web: Web, client):
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        reply = web.post(
            "/pause",
            {
                "csrf": web.csrf(),
                "stream": STREAM,
                "group": GROUP,
                "next": re.sub("/", "%2F", target),
            },
        )
        assert reply.headers["location"] == "/streams", target
