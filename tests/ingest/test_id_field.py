"""``--id-field`` as a path into the payload (pure, temporary files): nested keys, keys with a
dot, array indexes, and the rejects and refusals when the path finds no usable id."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.codec import Event
from ingest.errors import ConfigError
from ingest.fieldpath import MISSING, describe, parse_path, resolve
from ingest.settings import ProducerSettings
from ingest.sources import InputError, Reject, read_file


def read(path: object, **kwargs: object) -> tuple[list[Event], list[Reject]]:
    items = list(read_file(str(path), **kwargs))  # type: ignore[arg-type]
    return (
        [r for _, r in items if isinstance(r, Event)],
        [r for _, r in items if isinstance(r, Reject)],
    )


def jsonl(tmp_path, *records: object) -> object:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("id", ("id",)),
        ("customer.id", ("customer", "id")),
        (r"order\.id", ("order.id",)),
        (r"a\.b.c", ("a.b", "c")),
        (r"back\\slash", ("back\\slash",)),
        ("items.0.sku", ("items", "0", "sku")),
    ],
)
def test_a_path_splits_on_unescaped_dots_and_writes_back_the_same(text, keys):
    assert parse_path(text) == keys
    assert parse_path(describe(keys)) == keys


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a..b", "empty key"),
        (".a", "empty key"),
        ("a.", "empty key"),
        ("", "empty key"),
        ("a\\", "lone backslash"),
        (r"a\x", r"unknown escape \x"),
    ],
)
def test_a_malformed_path_is_refused_saying_why(text, problem):
    with pytest.raises(ValueError, match=problem.replace("\\", "\\\\")):
        parse_path(text)


def test_resolve_walks_objects_and_arrays_and_says_missing():
    payload = {"customer": {"id": 7}, "items": [{"sku": "A"}], "a.b": 1}
    assert resolve(payload, ("customer", "id")) == 7
    assert resolve(payload, ("items", "0", "sku")) == "A"
    assert resolve(payload, ("a.b",)) == 1
    assert resolve(payload, ("items", "1", "sku")) is MISSING
    assert resolve(payload, ("customer", "id", "x")) is MISSING
    assert resolve(payload, ("items", "first")) is MISSING


def test_a_nested_id_field_names_the_events_namespaced_by_the_source(tmp_path):
    # Given: records whose id sits inside an object
    path = jsonl(tmp_path, {"customer": {"id": "c-1"}, "n": 1}, {"customer": {"id": 2}, "n": 2})
    # When: read with a path
    events, rejects = read(path, source="shop", id_field="customer.id")
    # Then: ids are <source>:<value>, or the bare values with raw_ids
    assert rejects == []
    assert [e.event_id for e in events] == ["shop:c-1", "shop:2"]
    raw_events, _ = read(path, source="shop", id_field="customer.id", raw_ids=True)
    assert [e.event_id for e in raw_events] == ["c-1", "2"]


def test_a_key_with_a_dot_is_named_with_an_escape_and_the_plain_path_hints_at_it(tmp_path):
    path = jsonl(tmp_path, {"order.id": "o-1"})
    events, _ = read(path, source="s", id_field=r"order\.id")
    assert [e.event_id for e in events] == ["s:o-1"]
    _, rejects = read(path, source="s", id_field="order.id")
    assert [str(r) for r in rejects] == [
        f"{path}:1: no value for the id field 'order.id' "
        r"(the record has a key 'order.id': write a dot in a key as \.)"
    ]


def test_ids_that_are_missing_empty_or_not_scalars_are_rejects_naming_the_line(tmp_path):
    path = jsonl(
        tmp_path,
        {"customer": {}},
        {"customer": {"id": ""}},
        {"customer": {"id": {"x": 1}}},
        {"customer": {"id": [1]}},
        {"customer": {"id": True}},
        {"customer": {"id": 9}},
        ["not", "an", "object"],
    )
    events, rejects = read(path, source="s", id_field="customer.id")
    assert [e.event_id for e in events] == ["s:9"]
    assert [str(r) for r in rejects] == [
        f"{path}:1: no value for the id field 'customer.id'",
        f"{path}:2: no value for the id field 'customer.id'",
        f"{path}:3: the id field 'customer.id' is an object, not a string or a number",
        f"{path}:4: the id field 'customer.id' is an array, not a string or a number",
        f"{path}:5: the id field 'customer.id' is a bool, not a string or a number",
        f"{path}:7: no value for the id field 'customer.id'",
    ]
    assert rejects[0].raw == b'{"customer": {}}'  # kept to be written to --rejects


def test_csv_id_field_must_name_a_column_or_the_file_is_refused_at_the_header(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("customer.id,n\nc-1,1\n")
    with pytest.raises(InputError) as nested:
        read(path, source="s", id_field="customer.id")
    assert str(nested.value) == (
        rf"{path}:1: --id-field 'customer.id' names no column (write the column "
        r"'customer.id' as customer\.id)"
    )
    events, _ = read(path, source="s", id_field=r"customer\.id")
    assert [e.event_id for e in events] == ["s:c-1"]
    with pytest.raises(InputError, match="names no column"):
        read(path, source="s", id_field="n.x")


def test_a_malformed_id_field_is_a_setting_error():
    with pytest.raises(ConfigError, match=r"--id-field = 'a\.\.b'.*empty key"):
        ProducerSettings.from_sources({"id_field": "a..b", "input": "x"}, {})


@settings(max_examples=200, deadline=None, database=None)  # no .hypothesis/ in the repo
@given(keys=st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=4))
def test_any_keys_written_as_a_path_read_back_the_same(keys):
    path = describe(tuple(keys))
    assert parse_path(path) == tuple(keys)
    nested: object = "found"
    for key in reversed(keys):
        nested = {key: nested}
    assert resolve(nested, parse_path(path)) == "found"
