from __future__ import annotations

import pytest

from ingest.codec import ENVELOPE_VERSION, Event, decode, encode
from ingest.errors import DecodeError, EventTooLarge


def test_round_trip_keeps_every_field() -> None:
    event = Event("buoy.csv:2", {"time (UTC)": "2016-02-15T00:00:00Z", "t": 4.929}, "buoy.csv")
    fields = encode(event, produced_at_ms=123, trace={"traceparent": "00-abc-def-01"})
    assert fields["v"] == ENVELOPE_VERSION
    back = decode(fields)
    assert back.event_id == "buoy.csv:2"
    assert back.payload == event.payload
    assert back.source == "buoy.csv"
    assert back.type == "reading"
    assert back.produced_at_ms == 123
    assert back.trace == {"traceparent": "00-abc-def-01"}
    assert back.data == fields["data"]


def test_payload_above_the_limit_is_refused_with_its_size() -> None:
    event = Event("e1", "x" * 100)
    with pytest.raises(EventTooLarge, match=r"e1.*102 bytes.*--max-event-bytes=50"):
        encode(event, max_event_bytes=50)


def test_limit_counts_utf8_bytes_not_characters() -> None:
    with pytest.raises(EventTooLarge):
        encode(Event("e1", "é" * 30), max_event_bytes=40)


def test_non_json_payload_is_refused() -> None:
    with pytest.raises(ValueError):
        encode(Event("e1", float("nan")))


@pytest.mark.parametrize(
    ("mutate", "reason", "field"),
    [
        (lambda f: f.pop("data"), "missing-field", "data"),
        (lambda f: f.pop("event_id"), "missing-field", "event_id"),
        (lambda f: f.update(v="99"), "version", "v"),
        (lambda f: f.update(data="{not json"), "bad-json", "data"),
        (lambda f: f.update(produced_at_ms="soon"), "bad-field", "produced_at_ms"),
    ],
)
def test_decode_names_the_reason_and_field(mutate, reason: str, field: str) -> None:
    fields = encode(Event("e1", {"a": 1}), produced_at_ms=1)
    mutate(fields)
    with pytest.raises(DecodeError) as info:
        decode(fields)
    assert info.value.reason == reason
    assert info.value.field == field
