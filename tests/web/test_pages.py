"""Each page renders from a real redis-server and shows what Redis holds; filters filter."""

from __future__ import annotations

import html as htmllib
import re

import pytest
import redis

from ingest.pause import pause_key, pause_value
from ingest.workerinfo import worker_info_fields, worker_info_key
from tests.web.conftest import DEAD, GROUP, STREAM, Web, add_dead, add_events
from workers.web.history import Sample

pytestmark = pytest.mark.redis


def _consume(client: redis.Redis, consumer: str, count: int) -> None:
    client.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=count)


def test_the_streams_page_shows_backlog_lag_pending_and_dead_letters(web: Web, client):
    # Given 5 events, 2 delivered to c1 (pending), 1 dead letter
    client.xgroup_create(STREAM, GROUP, "0", mkstream=True)
    add_events(client, 5)
    _consume(client, "c1", 2)
    add_dead(client, "x1")

    page = web.http.get("/streams")

    assert page.status_code == 200
    html = page.text
    assert 'data-name="length">5<' in html
    assert 'data-name="backlog">5<' in html
    assert 'data-name="dead-letters"><a href="/dead?stream=ingest%3Aevents">1<' in html
    row = re.search(r'<tr data-group="workers">(.*?)</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num"[^>]*>([^<]*)', row.group(1))
    assert cells[:3] == ["5", "3", "2"]  # backlog, lag, pending
    assert "<polyline points=" in html  # the backlog chart


def test_the_live_part_is_a_fragment_that_htmx_reloads(web: Web, client):
    add_events(client, 1)

    part = web.http.get("/streams/live")

    assert part.status_code == 200
    assert part.text.startswith('<div id="streams-live" hx-get="/streams/live"')
    assert "<html" not in part.text
    assert 'hx-trigger="every 2.0s"' in part.text


def test_rates_come_from_two_samples(web: Web, client):
    # Given a sample taken 2 s ago (server clock) of an empty stream, then 10 events added
    # and 4 of them acknowledged
    client.xgroup_create(STREAM, GROUP, "0", mkstream=True)
    seconds, micros = client.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    earlier = Sample(now_ms - 2000, 0, 0, {GROUP: 0})
    web.http.app.state.dashboard.history.add(STREAM, earlier)  # type: ignore[attr-defined]
    add_events(client, 10)
    delivered = client.xreadgroup(GROUP, "c1", {STREAM: ">"}, count=4)
    client.xack(STREAM, GROUP, *[i for i, _ in delivered[0][1]])

    html = web.http.get("/streams/live").text

    # Then in/s is 10 over about 2 s, and the group acknowledged 4 over about 2 s
    rate_in = re.search(r'<dt>in/s</dt><dd class="num">([^<]+)<', html)
    row = re.search(r'<tr data-group="workers">(.*?)</tr>', html, re.S)
    assert rate_in is not None and row is not None
    out = re.findall(r'<td class="num"[^>]*>([^<]*)', row.group(1))[4]
    assert 4.0 <= float(rate_in.group(1)) <= 5.0
    assert 1.6 <= float(out) <= 2.0


def test_a_stream_with_no_group_says_so(web: Web, client):
    add_events(client, 2)

    html = web.http.get("/streams").text

    assert "No consumer group reads this stream yet." in html
    assert 'data-name="backlog">2<' in html


def test_the_groups_page_shows_live_and_dead_consumers_with_host_pid_and_handler(web: Web, client):
    # Given c1 live (liveness key + published hash) and c2 dead, each holding entries
    client.xgroup_create(STREAM, GROUP, "0", mkstream=True)
    add_events(client, 3)
    _consume(client, "c1", 2)
    _consume(client, "c2", 1)
    client.set("{ingest:events}:alive:workers:c1", "node-a:4242", ex=30)
    info = worker_info_fields("mypkg.handlers:handle", "node-a", 4242, 1, "0.1.0")
    client.hset(worker_info_key(STREAM, GROUP, "c1"), mapping=info)

    html = web.http.get(f"/groups?stream={STREAM}").text

    c1 = re.search(r'<tr data-consumer="c1">(.*?)</tr>', html, re.S)
    c2 = re.search(r'<tr data-consumer="c2">(.*?)</tr>', html, re.S)
    assert c1 is not None and c2 is not None
    assert 'class="is-live">live<' in c1.group(1)
    assert "node-a" in c1.group(1) and "4242" in c1.group(1)
    assert "mypkg.handlers:handle" in c1.group(1)
    assert 'class="is-dead">dead<' in c2.group(1)
    assert "not published" in c2.group(1)
    assert ">2</a>" in c1.group(1)  # pending, linking to its entries


def test_the_pending_page_lists_what_a_consumer_holds_with_delivery_counts(web: Web, client):
    client.xgroup_create(STREAM, GROUP, "0", mkstream=True)
    ids = add_events(client, 3)
    _consume(client, "c1", 2)
    client.xclaim(STREAM, GROUP, "c1", 0, [ids[0]])  # a second delivery of the first

    html = web.http.get(f"/pending?stream={STREAM}&group={GROUP}&consumer=c1").text

    rows = re.findall(
        r"<tr>\s*<td>([\d-]+)</td>.*?>(e\d)</a>.*?<td class=\"num\">(\d+)</td>", html, re.S
    )
    assert rows == [(ids[0], "e0", "2"), (ids[1], "e1", "1")]


def test_the_dead_letter_page_lists_and_filters(web: Web, client):
    add_dead(client, "a1", reason="permanent", dead_error_type="ValueError")
    add_dead(client, "a2", reason="max-deliveries", dead_error_type="TimeoutError")
    add_dead(client, "b3", reason="decode", dead_error_type="DecodeError")

    every = web.http.get(f"/dead?stream={STREAM}").text
    by_reason = web.http.get(f"/dead?stream={STREAM}&reason=max-deliveries").text
    by_type = web.http.get(f"/dead?stream={STREAM}&error_type=*Error&event_id=a*").text
    by_age = web.http.get(f"/dead?stream={STREAM}&older_than=1h").text
    bad_age = web.http.get(f"/dead?stream={STREAM}&older_than=soon")

    def shown(html: str) -> list[str]:
        return re.findall(r'<div class="event-id">([^<]*)</div>', html)

    assert shown(every) == ["b3", "a2", "a1"]  # newest first
    assert shown(by_reason) == ["a2"]
    assert shown(by_type) == ["a2", "a1"]
    assert shown(by_age) == []
    assert "No dead letters match these filters." in by_age
    assert bad_age.status_code == 400
    assert "is not a positive duration" in bad_age.text


def test_the_dead_letter_list_pages_through_a_long_stream(web: Web, client):
    for n in range(105):
        add_dead(client, f"d{n}")

    first = web.http.get(f"/dead?stream={STREAM}").text
    cursor = re.search(r'before=([\d-]+)[^"]*">older entries', first)
    assert cursor is not None
    second = web.http.get(f"/dead?stream={STREAM}&before={cursor.group(1)}").text

    firsts = re.findall(r'<div class="event-id">([^<]*)</div>', first)
    seconds = re.findall(r'<div class="event-id">([^<]*)</div>', second)
    assert len(firsts) == 100 and len(seconds) == 5
    assert firsts[0] == "d104" and seconds[-1] == "d0"
    assert "older entries" not in second


def test_a_dead_letter_shows_every_field_its_traceback_and_trace_link(make_web, client):
    web = make_web(jaeger_url="http://jaeger.local:16686")
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    entry_id = add_dead(
        client,
        "t1",
        dead_traceback="Traceback (most recent call last):\n  boom\n",
        traceparent=f"00-{trace}-00f067aa0ba902b7-01",
        custom="kept",
    )

    html = web.http.get(f"/dead/entry?stream={STREAM}&id={entry_id}").text

    assert "<th>custom</th><td>kept</td>" in html
    assert "<th>dead_reason</th><td>permanent</td>" in html
    assert '<pre class="traceback">Traceback (most recent call last):\\n\n  boom\\n\n</pre>' in html
    assert f'href="http://jaeger.local:16686/trace/{trace}"' in html


def test_an_unknown_dead_letter_is_a_404(web: Web, client):
    assert web.http.get(f"/dead/entry?stream={STREAM}&id=1-1").status_code == 404
    assert web.http.get(f"/dead/entry?stream={STREAM}&id=nope").status_code == 404


def test_a_stream_the_dashboard_was_not_given_is_not_read(web: Web, client):
    add_events(client, 1)

    reply = web.http.get("/groups?stream=other:stream")

    assert reply.status_code == 404


def test_a_paused_group_shows_who_paused_it(web: Web, client):
    client.xgroup_create(STREAM, GROUP, "0", mkstream=True)
    client.set(
        pause_key(STREAM, GROUP), pause_value("web:ops@10.0.0.1", 1_700_000_000_000, "db migration")
    )

    streams = web.http.get("/streams").text
    groups = web.http.get(f"/groups?stream={STREAM}").text

    assert '<span class="paused">paused</span>' in streams
    assert "by web:ops@10.0.0.1 at 2023-11-14 22:13:20 UTC: db migration" in groups


def test_a_key_that_is_not_a_stream_is_reported_not_a_500(web: Web, client):
    client.set(STREAM, "oops")

    reply = web.http.get("/streams")

    assert reply.status_code == 200
    assert "holds a string, not a stream" in reply.text


def test_static_files_are_served(web: Web):
    css = web.http.get("/static/style.css")
    js = web.http.get("/static/htmx.min.js")

    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]


def test_dead_letter_lengths_come_from_the_dead_letter_stream(web: Web, client):
    for n in range(3):
        add_dead(client, f"z{n}")
    client.xdel(DEAD, client.xrange(DEAD)[0][0])

    html = web.http.get("/streams").text

    assert ">2</a></dd>" in html


def test_find_says_where_an_event_is_in_each_group(web: Web, client):
    # Given e0 acknowledged by g1, pending in g2 (c9, twice delivered), e2 undelivered to both
    client.xgroup_create(STREAM, "g1", "0", mkstream=True)
    client.xgroup_create(STREAM, "g2", "0")
    ids = add_events(client, 3)
    client.xreadgroup("g1", "c1", {STREAM: ">"}, count=2)
    client.xack(STREAM, "g1", ids[0])
    client.xreadgroup("g2", "c9", {STREAM: ">"}, count=1)
    client.xclaim(STREAM, "g2", "c9", 0, [ids[0]])

    e0 = web.http.get(f"/find?stream={STREAM}&event_id=e0").text
    e2 = web.http.get(f"/find?stream={STREAM}&event_id=e2").text

    def states(html: str) -> dict[str, str]:
        return dict(re.findall(r'<li data-group="(\w+)" data-state="([\w-]+)"', html))

    assert states(e0) == {"g1": "acknowledged", "g2": "pending"}
    assert "with consumer c9, 2 deliveries" in e0
    assert states(e2) == {"g1": "undelivered", "g2": "undelivered"}


def test_find_marks_a_dead_lettered_entry_and_a_trimmed_one(web: Web, client):
    client.xgroup_create(STREAM, GROUP, "0", mkstream=True)
    ids = add_events(client, 2)
    client.xreadgroup(GROUP, "c1", {STREAM: ">"})
    client.xack(STREAM, GROUP, *ids)
    add_dead(client, "e0", dead_entry_id=ids[0], dead_group=GROUP)
    client.xdel(STREAM, ids[1])  # e1 acknowledged and trimmed

    dead = web.http.get(f"/find?stream={STREAM}&event_id=e0").text
    gone = web.http.get(f"/find?stream={STREAM}&event_id=e1").text

    assert 'data-state="dead-lettered"' in dead and "<strong>dead-lettered</strong>" in dead
    assert 'id="verdict">Not in ingest:events nor in its dead-letter stream' in gone


def test_find_is_bounded_and_goes_on_where_it_stopped(make_web, client):
    web = make_web(find_limit=10)
    add_events(client, 25)

    first = web.http.get(f"/find?stream={STREAM}&event_id=e0").text
    more = re.search(r'href="([^"]+)" id="look-further"', first)
    assert more is not None
    second = web.http.get(htmllib.unescape(more.group(1))).text
    more = re.search(r'href="([^"]+)" id="look-further"', second)
    assert more is not None
    third = web.http.get(htmllib.unescape(more.group(1))).text

    assert "Read 10 entries of ingest:events and 0 of its" in first
    assert "Entry " not in first and "Entry " not in second
    assert "Read 5 entries of ingest:events (to the oldest)" in third
    assert "data-state" not in third and "no consumer group reads this stream yet" in third
