"""Hostile input through the codec: strict JSON, lone surrogates, deep nesting, odd fields.

Entries may have been written by any program, and the Redis clients decode bytes that are
not UTF-8 to lone surrogates (``surrogateescape``): decoding refuses all of it with a
:class:`DecodeError` naming the field, and encoding refuses it with a ``ValueError`` (so the
producer rejects the record), never a ``RecursionError`` or ``UnicodeError`` escaping.
"""

from __future__ import annotations

from typing import Any

import pytest

from ingest.codec import Event, decode, dumps, encode, loads, safe_text
from ingest.errors import DecodeError


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "text",
    [
        "NaN",
        '{"t":-Infinity}',
        "[1, Infinity]",
        '"\\ud800"',
        '{"k":"\\udc00 alone"}',
        "[" * 1030 + "]" * 1030,
        "[" * 100_000,
        '"\udcff"',
        b'"\xff"',
        b"\xef\xbb\xbf{}",
    ],
)
def test_loads_refuses_what_is_not_strict_json_text_with_value_error(text: str | bytes) -> None:
    with pytest.raises(ValueError):
        loads(text)


def test_loads_keeps_a_valid_surrogate_pair_and_exact_big_integers() -> None:
    assert loads('["\\ud83d\\ude00", 123456789012345678901234567890]') == [
        "\U0001f600",
        123456789012345678901234567890,
    ]


@pytest.mark.parametrize(
    "value",
    [_nested(995), _nested(5000), "\udcff", {"k": ["\ud800"]}, {"\udcfe": 1}, float("inf")],
)
def test_dumps_refuses_deep_nesting_and_lone_surrogates_with_value_error(value: Any) -> None:
    with pytest.raises(ValueError):
        dumps(value)


def test_dumps_of_moderate_nesting_round_trips() -> None:
    value = _nested(300)  # deeper than orjson's limit: the stdlib takes it
    assert loads(dumps(value)) == value


@pytest.mark.parametrize(
    "event",
    [
        Event("e\udcff", {"a": 1}),
        Event("e", {"a": 1}, source="\ud800"),
        Event("e", {"a": 1}, type="t\udc80"),
        Event("e", None, data='{"a":"\udcff"}'),
        Event("e", {"a": 1}, trace={"traceparent": "00-\udcff"}),
        Event("e", _nested(995)),
    ],
)
def test_encode_refuses_any_text_that_is_not_unicode_with_value_error(event: Event) -> None:
    with pytest.raises(ValueError):
        encode(event)


def _fields(**changes: str) -> dict[str, str]:
    fields = encode(Event("e1", {"a": 1}), produced_at_ms=1)
    fields.update(changes)
    return fields


@pytest.mark.parametrize(
    ("fields", "reason", "field"),
    [
        (_fields(data='{"a":NaN}'), "bad-json", "data"),
        (_fields(data='{"a":Infinity}'), "bad-json", "data"),
        (_fields(data="[" * 2000 + "]" * 2000), "bad-json", "data"),
        (_fields(data='"\\udc00"'), "bad-json", "data"),
        (_fields(data='"\udcff"'), "not-utf8", "data"),
        (_fields(event_id="x\udcff"), "not-utf8", "event_id"),
        (_fields(extra="\udce9t\udce9"), "not-utf8", "extra"),
        (_fields(produced_at_ms="soon"), "bad-field", "produced_at_ms"),
        (_fields(produced_at_ms="9" * 5000), "bad-field", "produced_at_ms"),
        (_fields(v="\udcff"), "not-utf8", "v"),
    ],
)
def test_decode_refuses_hostile_fields_naming_them(
    fields: dict[str, str], reason: str, field: str
) -> None:
    with pytest.raises(DecodeError) as info:
        decode(fields)
    assert (info.value.reason, info.value.field) == (reason, field)


def test_decode_refuses_a_field_name_that_is_not_utf8_and_shows_its_bytes() -> None:
    fields = _fields()
    fields["\udcff\udcfe"] = "x"
    with pytest.raises(DecodeError, match=r"\\xff\\xfe") as info:
        decode(fields)
    assert info.value.reason == "not-utf8"


def test_decode_ignores_extra_fields_and_reads_negative_stamps() -> None:
    event = decode(_fields(produced_at_ms="-5", **{f"x{i}": "y" for i in range(4000)}))
    assert (event.event_id, event.produced_at_ms, event.payload) == ("e1", -5, {"a": 1})


def test_safe_text_shows_undecodable_bytes_and_keeps_good_text() -> None:
    assert safe_text("ok é") == "ok é"
    assert safe_text("a\udcffb") == "a\\xffb"
    assert safe_text("\ud800") == "\\ud800"
