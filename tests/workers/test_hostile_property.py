"""Property: whatever other programs write into the stream, a ``--burst`` worker ends with
every good entry in the sink once, every bad one in the dead-letter stream once (with a
reason and its original bytes), exit code 0, and an empty pending entries list.

Hostile entries: bytes that are not UTF-8 in field names and values, missing and extra
fields, up to 10,000 fields, values up to ~100 KB, JSON nested thousands deep, NaN and
Infinity, random binary fields. Real redis-server; the worker is a subprocess.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.codec import decode
from ingest.errors import DecodeError
from tests.workers.hostile import (
    Fields,
    dead_letters,
    good_fields,
    raw_client,
    same_fields,
    sink_ids,
    xadd,
)
from tests.workers.util import worker_cmd
from workers.rows import EntryLimits

pytestmark = pytest.mark.slow

MAX_EVENT_BYTES = 1024
MAX_FIELDS = 3000
LIMITS = EntryLimits.for_payload(MAX_EVENT_BYTES, MAX_FIELDS)
NOT_UTF8 = st.binary(min_size=1, max_size=20).filter(lambda b: not _utf8(b))


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


def _replace(fields: Fields, name: bytes, value: bytes) -> Fields:
    return [(k, value if k == name else v) for k, v in fields]


def _mutations(event_id: str) -> st.SearchStrategy[Fields]:
    base = good_fields(event_id)
    names = [k for k, _ in base]
    nested = st.integers(900, 4000).map(lambda d: b"[" * d + b"]" * d)
    big = st.integers(1, 3).map(lambda k: b'"' + b"x" * (k * 40_000) + b'"')
    many = st.integers(1, 10_000)
    return st.one_of(
        st.tuples(st.sampled_from(names), NOT_UTF8).map(lambda p: _replace(base, *p)),
        NOT_UTF8.map(lambda name: [*base, (name, b"x")]),
        st.sampled_from(names).map(lambda n: [(k, v) for k, v in base if k != n]),
        st.sampled_from([b'{"a":NaN}', b"[Infinity]", b"-Infinity", b"{", b'"\\ud800"']).map(
            lambda data: _replace(base, b"data", data)
        ),
        nested.map(lambda data: _replace(base, b"data", data)),
        big.map(lambda data: _replace(base, b"data", data)),
        st.tuples(many, st.booleans()).map(
            lambda p: (
                [(k, v) for k, v in base if p[1] or k != b"v"]
                + [(b"x%d" % i, b"y") for i in range(p[0])]
            )
        ),
        st.lists(
            st.tuples(st.binary(min_size=1, max_size=8), st.binary(max_size=300)),
            min_size=1,
            max_size=40,
            unique_by=lambda p: p[0],
        ),
    )


def _expected(fields: Fields) -> str:
    """``ok``, ``decode`` or ``too_large``, as the worker must judge the entry."""
    as_text = {
        k.decode(errors="surrogateescape"): v.decode(errors="surrogateescape") for k, v in fields
    }
    if LIMITS.exceeded(as_text) is not None:
        return "too_large"
    try:
        decode(as_text)
    except DecodeError:
        return "decode"
    return "ok"


@settings(
    max_examples=8,
    deadline=None,
    database=None,  # tests write only under tmp_path: no .hypothesis directory
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=st.lists(st.booleans(), min_size=2, max_size=8), data=st.data())
def test_any_entries_end_in_the_sink_or_the_dead_letters_once(
    plan: list[bool],
    data: st.DataObject,
    redis_url: str,
    subprocess_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # Given: good entries, with hostile ones written between them byte for byte
    client = raw_client(redis_url)
    client.flushall()
    written: dict[str, tuple[Fields, str, str]] = {}  # entry ID -> (fields, expected, event id)
    for n, hostile in enumerate(plan):
        event_id = f"{'h' if hostile else 'g'}{n}"
        fields = data.draw(_mutations(event_id)) if hostile else good_fields(event_id)
        written[xadd(client, fields)] = (fields, _expected(fields), event_id)
    db = tmp_path_factory.mktemp("sink") / "sink.db"

    # When: a burst worker drains the stream
    result = _run_worker(redis_url, subprocess_env, db)

    # Then: exit 0, nothing pending, and every entry in exactly one place
    assert result.returncode == 0, result.stderr[-3000:]
    assert client.xpending("ingest:events", "workers")["pending"] == 0
    dead = dead_letters(client)
    stored = sink_ids(db)
    assert len(stored) == len(set(stored))
    for entry_id, (fields, expected, event_id) in written.items():
        if expected == "ok":
            shown = [(k, v[:60]) for k, v in fields[:10]]
            assert event_id in stored, (entry_id, len(fields), shown, result.stderr[-3000:])
            assert entry_id not in dead
            continue
        assert entry_id in dead, (entry_id, expected, fields[:5], result.stderr[-2000:])
        original, meta = dead[entry_id]
        assert meta[b"dead_reason"].decode() == expected
        assert same_fields(original, fields)
    assert set(dead) <= set(written)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["refused"] == len(dead)
    client.close()


def _run_worker(url: str, env: dict[str, str], db: Path) -> subprocess.CompletedProcess[str]:
    args = ["--burst", "--sink", f"sqlite:///{db}", "--max-event-bytes", str(MAX_EVENT_BYTES)]
    args += ["--max-fields", str(MAX_FIELDS)]
    return subprocess.run(
        worker_cmd(url, *args), env=env, capture_output=True, text=True, timeout=60
    )


def test_the_expected_judgement_matches_the_codec_on_examples() -> None:
    # A guard on the property's own oracle: a good entry is ok, hostile ones are not.
    assert _expected(good_fields("g")) == "ok"
    assert _expected(_replace(good_fields("g"), b"data", b"\xff")) == "decode"
    assert _expected([(b"x%d" % i, b"y") for i in range(MAX_FIELDS + 1)]) == "too_large"
