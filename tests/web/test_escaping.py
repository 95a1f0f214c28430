"""Stream content is data on every page: markup, control characters and bytes that are not
UTF-8 in event IDs, consumer and group names, fields, errors and tracebacks are shown
literally (escaped), never interpreted; links built from such names still work."""

from __future__ import annotations

import html as htmllib
import re

import pytest
import redis

from ingest.workerinfo import worker_info_key
from tests.web.conftest import DEAD, STREAM, Web

pytestmark = pytest.mark.redis

SCRIPT = b"<script>alert(1)</script>"
MARKUP = b"<b onmouseover=x>b</b>&amp;\"'"
CONTROLS = b"\x1b[31mred\x07\r\n\xe2\x80\xae"  # ANSI, BEL, CR LF, RIGHT-TO-LEFT OVERRIDE
RAW = b"\xff\xfe"  # not UTF-8
HOSTILE = SCRIPT + MARKUP + CONTROLS + RAW
GROUP = b"g" + SCRIPT + RAW
CONSUMER = b"c" + MARKUP + CONTROLS + RAW


def _pages(web: Web, entry_id: str, dead_id: str) -> dict[str, str]:
    urls = {
        "streams": "/streams",
        "groups": f"/groups?stream={STREAM}",
        "dead": f"/dead?stream={STREAM}",
        "dead entry": f"/dead/entry?stream={STREAM}&id={dead_id}",
        "find": f"/find?stream={STREAM}&event_id=e%3Cscript%3E%FF",
        "filtered": f"/dead?stream={STREAM}&reason=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    }
    pages = {}
    for name, url in urls.items():
        reply = web.http.get(url)
        assert reply.status_code in (200, 400), (name, reply.status_code)
        pages[name] = reply.content.decode("utf-8")  # strict: the page is valid UTF-8
    groups = pages["groups"]
    link = re.search(r'href="(/pending\?[^"]*consumer=[^"]*)"', groups)
    assert link is not None, "no link to the consumer's pending entries"
    pages["pending"] = web.http.get(htmllib.unescape(link.group(1))).content.decode()
    assert entry_id in pages["pending"], "the link lost the consumer's name"
    return pages


@pytest.fixture
def hostile(client: redis.Redis, redis_url: str) -> tuple[str, str]:
    raw = redis.Redis.from_url(redis_url)  # bytes in, bytes out
    entry_id = raw.xadd(STREAM, {b"event_id": b"e<script>\xff", b"data": HOSTILE, HOSTILE: HOSTILE})
    raw.xgroup_create(STREAM, GROUP, "0")
    raw.xreadgroup(GROUP, CONSUMER, {STREAM: ">"})  # type: ignore[arg-type]
    raw.set(b"{ingest:events}:alive:" + GROUP + b":" + CONSUMER, b"host" + SCRIPT + b":1")
    info_key = worker_info_key(
        STREAM,
        GROUP.decode("utf-8", "surrogateescape"),
        CONSUMER.decode("utf-8", "surrogateescape"),
    )
    raw.hset(info_key.encode("utf-8", "surrogateescape"), mapping={b"handler": HOSTILE})
    dead_id = raw.xadd(
        DEAD,
        {
            b"event_id": HOSTILE,
            b"dead_reason": HOSTILE,
            b"dead_error_type": HOSTILE,
            b"dead_error": HOSTILE,
            b"dead_traceback": b"Traceback\n" + HOSTILE,
            HOSTILE: HOSTILE,
        },
    )
    raw.close()
    return str(entry_id, "ascii"), str(dead_id, "ascii")  # type: ignore[arg-type]


def test_hostile_stream_text_is_shown_literally_on_every_page(web: Web, hostile):
    pages = _pages(web, *hostile)

    for name, page in pages.items():
        body = page.split("<main>", 1)[1]
        assert "<script>" not in body, name
        assert "<b onmouseover" not in body, name
        assert "\x1b" not in page and "\x07" not in page and "\u202e" not in page, name
    # What each page shows instead, character for character:
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages["dead"]
    assert "&lt;b onmouseover=x&gt;b&lt;/b&gt;&amp;amp;&#34;&#39;" in pages["dead entry"]
    assert "\\x1b[31mred\\x07\\r\\n\\u202e\\xff\\xfe" in pages["dead entry"]
    assert "c&lt;b onmouseover=x&gt;" in pages["groups"] and "\\xff\\xfe" in pages["groups"]
    assert "g&lt;script&gt;alert(1)&lt;/script&gt;\\xff\\xfe" in pages["streams"]
    assert "e&lt;script&gt;\\xff" in pages["pending"]
    assert "e&lt;script&gt;\\xff" in pages["find"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages["filtered"]  # the filter echoed


def test_a_traceback_keeps_its_lines_and_escapes_the_rest(web: Web, hostile):
    page = web.http.get(f"/dead/entry?stream={STREAM}&id={hostile[1]}").text

    block = re.search(r'<pre class="traceback">(.*?)</pre>', page, re.S)

    assert block is not None
    assert block.group(1).startswith("Traceback\\n\n&lt;script&gt;")


def test_an_event_id_with_bytes_that_are_not_utf8_is_found(web: Web, hostile):
    page = web.http.get(f"/find?stream={STREAM}&event_id=e%3Cscript%3E%FF").text

    assert f"Entry {hostile[0]} of {STREAM}" in page
    assert 'data-state="pending"' in page
