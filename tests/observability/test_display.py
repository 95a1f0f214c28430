"""ingest.display: stream text is shown escaped, never interpreted; JSON stays valid UTF-8."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from ingest.display import has_raw_bytes, json_safe, json_text, visible, visible_lines


def from_redis(raw: bytes) -> str:
    """What the Redis clients hand us for ``raw`` (``encoding_errors="surrogateescape"``)."""
    return raw.decode("utf-8", "surrogateescape")


def test_controls_ansi_newlines_and_bidi_are_escaped():
    text = "a\x1b[31mred\x1b[0m\nforged line\r\tx\x00\x7f\x9b\u202eevil\u2066\u200b\u2028"
    assert visible(text) == (
        "a\\x1b[31mred\\x1b[0m\\nforged line\\r\\tx\\x00\\x7f\\x9b\\u202eevil\\u2066\\u200b\\u2028"
    )


def test_bytes_that_are_not_utf8_show_as_the_bytes_they_were():
    assert visible(from_redis(b"caf\xc3 \xff\xfe")) == "caf\\xc3 \\xff\\xfe"
    assert has_raw_bytes(from_redis(b"\xff"))
    assert not has_raw_bytes("caf\u00e9")


def test_printable_text_is_returned_unchanged():
    for text in ("plain", "caf\u00e9 \u65e5\u672c \U0001f600", "C:\\data\\x.csv:7", "[bold]x[/]"):
        assert visible(text) is text


def test_visible_lines_breaks_after_each_shown_newline():
    assert visible_lines("Traceback:\n  File x\x1b[2J") == "Traceback:\\n\n  File x\\x1b[2J"


def test_json_of_bytes_that_are_not_utf8_is_valid_utf8_and_shows_them():
    value = {from_redis(b"name\xff"): [from_redis(b"\xc3("), "ok", 1, None]}
    text = json_text(value)
    text.encode("utf-8")  # no lone surrogate left: this would raise
    assert json.loads(text) == {"name\\xff": ["\\xc3(", "ok", 1, None]}


def test_json_escapes_what_json_leaves_raw():
    text = json_text({"e": "\x7f\x9b\u202e\U000e0041 caf\u00e9"})
    assert text.isprintable()
    assert "caf\u00e9" in text  # printable non-ASCII stays readable
    assert json.loads(text) == {"e": "\x7f\x9b\u202e\U000e0041 caf\u00e9"}


@given(st.binary(max_size=200))
def test_any_bytes_from_redis_show_as_one_printable_line(raw: bytes):
    shown = visible(from_redis(raw))
    assert shown.isprintable()
    assert "\n" not in shown and "\x1b" not in shown
    shown.encode("utf-8")


@given(st.text(max_size=200))
def test_any_text_shows_printable_and_json_round_trips(text: str):
    assert visible(text).isprintable()
    document = json_text({"v": text})
    document.encode("utf-8")
    assert document.isprintable()
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        assert json.loads(document) == {"v": text}


@given(st.recursive(st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_json_safe_leaves_no_surrogate_anywhere(value: object):
    json.dumps(json_safe(value), ensure_ascii=False).encode("utf-8")
