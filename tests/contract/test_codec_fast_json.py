"""The codec's fast JSON path (orjson) gives exactly the stdlib's results where they differ."""

from __future__ import annotations

import json

import pytest

from ingest.codec import dumps, loads


@pytest.mark.parametrize(
    "text",
    [
        '{"big":12345678901234567890123}',
        "[-9223372036854775809, 18446744073709551616]",
        '{"id":"0000000000000000000000 in a string"}',
        '"\\ud83d\\ude00"',
        '{"a":1,"a":2}',
        ' {"station":"buoy-01","t":15.3,"ok":true,"none":null} ',
    ],
)
def test_loads_reads_like_the_stdlib(text: str) -> None:
    got = loads(text)
    want = json.loads(text)
    assert repr(got) == repr(want)
    assert type(got) is type(want)


def test_loads_accepts_bytes_and_refuses_bad_json_with_value_error() -> None:
    assert loads(b'{"a":[1,2]}') == {"a": [1, 2]}
    with pytest.raises(ValueError):
        loads("{not json")


@pytest.mark.parametrize(
    "value",
    [
        {"station": "buoy-01", "t": 15.3, "n": 7, "ok": True},
        {"é": "ü", "nested": [1, {"x": None}]},
        {1: "int key", None: "none key"},
        2**70,
        "plain",
    ],
)
def test_dumps_round_trips_like_the_stdlib(value: object) -> None:
    text = dumps(value)
    assert json.loads(text) == json.loads(json.dumps(value, ensure_ascii=False))
    assert " " not in text.replace("int key", "").replace("none key", "")


@pytest.mark.parametrize("value", [float("nan"), {"t": float("inf")}, [float("-inf")]])
def test_dumps_refuses_nan_and_infinity(value: object) -> None:
    with pytest.raises(ValueError):
        dumps(value)


def test_dumps_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError):
        dumps({"when": {1, 2}})
