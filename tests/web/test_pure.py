"""The dashboard's pure parts: rates and the chart, the pause flag and the worker hash, trace
IDs, where an entry stands in a group, names through URLs and forms."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from ingest.groupstate import GroupState
from ingest.keys import StreamKeys
from ingest.pause import PauseState, derived_key, pause_key, pause_value, paused
from ingest.workerinfo import WorkerInfo, worker_info_fields, worker_info_key
from workers.web.consumers import split_holder
from workers.web.deadletters import parse_filter, valid_ids
from workers.web.history import History, Sample, chart_points, rates
from workers.web.locate import trace_id, where
from workers.web.render import parse_pairs, query, unwire, wire


def test_rates_between_two_samples():
    before = Sample(1_000, 100, 50, {"g": 50, "h": 10})
    after = Sample(3_000, 120, 40, {"g": 40, "h": 30})

    found = rates(before, after)

    assert found.in_per_s == 10.0
    assert found.out_per_s == {"g": 15.0, "h": 0.0}  # g: 20 in, backlog -10; h: backlog +20
    assert found.over_s == 2.0


def test_no_rate_without_the_counter_or_time():
    assert rates(Sample(1, None, 0), Sample(2, 5, 0)).in_per_s is None
    assert rates(Sample(5, 1, 0), Sample(5, 9, 0)).in_per_s is None


def test_history_keeps_a_window_and_spaces_samples():
    history = History(keep_ms=10_000, min_gap_ms=1_000)
    for t in (0, 100, 200, 1_500, 1_600, 20_000):
        history.add("s", Sample(t, t, 0))
    history.add("s", Sample(19_000, 0, 0))  # older than the newest: ignored

    assert [s.time_ms for s in history.samples("s")] == [20_000]
    history.add("s", Sample(20_400, 0, 0))
    history.add("s", Sample(20_900, 0, 0))
    assert [s.time_ms for s in history.samples("s")] == [20_000, 20_900]


def test_history_rates_use_the_window():
    history = History(keep_ms=60_000, min_gap_ms=1)
    for t, added in ((0, 0), (5_000, 50), (9_000, 90), (10_000, 100)):
        history.add("s", Sample(t, added, 0, {}))

    assert history.rates("s", 5_000).in_per_s == 10.0
    assert history.rates("s", 60_000).in_per_s == 10.0  # the oldest kept
    assert history.rates("other", 5_000).in_per_s is None


def test_chart_points_span_the_width_and_height():
    samples = [Sample(0, 0, 0), Sample(5_000, 0, 10), Sample(10_000, 0, 5)]

    points, top = chart_points(samples, 10_000, width=100, height=20)

    assert top == 10
    assert points == "0.0,20.0 50.0,0.0 100.0,10.0"
    assert chart_points([], 10) == ("", 1)


def test_the_pause_flag_lives_in_the_streams_slot():
    assert pause_key("ingest:events", "workers") == "{ingest:events}:paused:workers"
    assert pause_key("{orders}:events", "g") == "{orders}:events:paused:g"
    for stream in ("ingest:events", "{orders}:events"):
        keys = StreamKeys(stream)
        assert derived_key(stream, "dead") == keys.dead_letter_stream
        assert derived_key(stream, "alive:g:c") == keys.consumer_alive("g", "c")


def test_any_value_pauses():
    assert paused("x") and paused(b"") and paused("not json")
    assert not paused(None)


def test_a_pause_value_reads_back_and_a_foreign_one_is_kept_raw():
    value = pause_value("web:ops", 5, "note " * 100, until_ms=9)

    state = PauseState.parse(value)

    assert (state.by, state.at_ms, state.until_ms) == ("web:ops", 5, 9)
    assert len(state.reason) == 200
    assert json.loads(value)["at_ms"] == 5
    foreign = PauseState.parse("paused by cron")
    assert (foreign.by, foreign.at_ms, foreign.raw) == ("", None, "paused by cron")
    assert PauseState.parse('{"by": 3, "at_ms": true}').at_ms is None


def test_worker_info_round_trip_and_junk():
    key = worker_info_key("ingest:events", "workers", "c1")
    fields = worker_info_fields("pkg:handle", "node-a", 42, 1000, "0.1.0")

    assert key == "{ingest:events}:worker:workers:c1"
    assert WorkerInfo.parse(fields) == WorkerInfo("pkg:handle", "node-a", 42, 1000, "0.1.0")
    assert WorkerInfo.parse({}) is None
    assert WorkerInfo.parse({"pid": "x²", "handler": "h"}) == WorkerInfo(handler="h")


def test_split_holder():
    assert split_holder("node-a:4242") == ("node-a", 4242)  # the older host:pid form
    assert split_holder("node-a:123456:4242") == ("node-a", 4242)  # host:start:pid
    # Not a shape a worker writes (host names hold no colon): shown whole, no PID.
    assert split_holder("host:with:colons:7") == ("host:with:colons:7", None)
    assert split_holder("odd") == ("odd", None)
    assert split_holder(None) == ("", None)


def test_trace_id_of_a_traceparent():
    good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    assert trace_id(good) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_id("00-" + "0" * 32 + "-00f067aa0ba902b7-01") is None
    assert trace_id("<script>") is None
    assert trace_id(None) is None


def _group(last: str) -> GroupState:
    return GroupState("g", 0, 0, 0, "caught-up", last, 0, None, None, 0)  # type: ignore[arg-type]


def test_where_an_entry_stands_in_a_group():
    assert where("5-0", _group("4-0"), []).state == "undelivered"
    assert where("5-0", _group("5-0"), []).state == "acknowledged"
    place = where("5-0", _group("9-0"), [["5-0", "c1", 1200, 3]])
    assert (place.state, place.consumer, place.delivery_count, place.idle_ms) == (
        "pending",
        "c1",
        3,
        1200,
    )


@given(st.text())
def test_names_survive_urls_and_forms(name):
    assert unwire(wire(name)) == name
    assert parse_pairs(f"n={wire(name)}".encode()) == [("n", name)]


def test_bytes_that_are_not_utf8_survive_a_url():
    name = b"c\xff<".decode("utf-8", "surrogateescape")

    url = query("/pending", consumer=name, empty="", none=None)

    assert url == "/pending?consumer=c%FF%3C"
    assert parse_pairs(url.split("?")[1].encode()) == [("consumer", name)]


def test_only_entry_ids_pass():
    assert valid_ids(["1-0", "x", "1-0", "2-5", "1-0-0", ""]) == ["1-0", "2-5"]


def test_the_filter_of_a_form():
    where_, problem = parse_filter({"reason": " decode ", "older_than": "2h", "event_id": ""})

    assert (where_.reasons, where_.event_ids, where_.older_than_s, problem) == (
        ("decode",),
        (),
        7200.0,
        None,
    )
    assert parse_filter({"older_than": "-1"})[1] is not None
