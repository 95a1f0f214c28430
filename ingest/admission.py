"""Atomic admission: one Redis Function call per batch checks the backlog, trims safely, appends.

The ``ingest`` Functions library (:mod:`ingest.library`; this part in ``ingest/lua/admission.lua``)
exports:

* ``ingest_admit`` (``FCALL``): reads every group's backlog by the rule of
  :mod:`ingest.backlog` (repairing a lag counter it proves stale); when the largest is above
  the caller's ``limit`` it refuses the batch (reason ``high-water``). Otherwise, if the batch
  would take the stream past ``maxlen``, it trims entries that every group has acknowledged
  (``XTRIM MINID`` up to the oldest entry any group still has pending or undelivered, or exact
  ``MAXLEN`` when no group needs any entry) and refuses the batch (reason ``cap``) if that does
  not make room. Else it appends the whole batch. XLEN never exceeds ``maxlen``: there is no
  ``~`` slack. Entry IDs are compared as decimal strings and the first undelivered entry is
  read with ``XRANGE (<last-delivered-id> + COUNT 1``, never computed: Lua numbers are doubles,
  exact only up to 2^53, and a sequence part may reach 2^64-1. A batch carrying a producer id
  and sequence number that was admitted before is answered with the IDs it got then (reason
  ``repeat``), nothing appended: re-sending after a lost reply is idempotent.
* ``ingest_backlog`` (``FCALL``): every group's undelivered entries by the same rule
  (:func:`ingest.groups.group_backlogs`), optionally repairing stale counters.
* ``ingest_version`` (``FCALL_RO``, no writes): the library version.

Operators whose application user may not ``FUNCTION LOAD``::

    python -m ingest.admission load --redis-url redis://admin:...@host:6379/0
    python -m ingest.admission print | redis-cli -x FUNCTION LOAD REPLACE
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis

from ingest.connection import checked_error, sync_client
from ingest.errors import IngestError, RedisUnavailable
from ingest.keys import StreamKeys
from ingest.library import (
    LIBRARY_CODE,
    LIBRARY_VERSION,
    AdmissionUnavailable,
    ensure_loaded,
    library_code,
    loaded_version,
)
from ingest.settings import REDIS_OPTIONS, RedisSettings, add_options, redact_url, resolve
from ingest.streams import EntryId

__all__ = [
    "LIBRARY_VERSION",
    "Admission",
    "AdmissionUnavailable",
    "BatchId",
    "Repair",
    "admit",
    "admit_args",
    "ensure_loaded",
    "library_code",
    "loaded_version",
    "producer_key",
]

log = logging.getLogger(__name__)

ADMIT_FUNCTION = "ingest_admit"
BACKLOG_FUNCTION = "ingest_backlog"


def producer_key(stream: str, producer_id: str) -> str:
    """The key holding one producer's last admitted batch (:meth:`StreamKeys.producer`)."""
    return StreamKeys(stream).producer(producer_id)


@dataclass(frozen=True, slots=True)
class BatchId:
    """Names one batch for idempotent re-sends.

    Attributes:
        producer_id: unique per producer (a random hex string); names its key
            (:func:`producer_key`).
        seq: the batch's number, from 1, the same on every re-send of that batch.
        ttl_ms: how long the server remembers the producer's last batch, ms (refreshed by
            every admitted batch); must outlast the longest re-send.
    """

    producer_id: str
    seq: int
    ttl_ms: int


@dataclass(frozen=True, slots=True)
class Repair:
    """A stale lag counter the function found (and repaired unless the user may not).

    Attributes:
        group: the consumer group.
        redis_lag: what XINFO GROUPS said, entries.
        undelivered: what is really after the group's last-delivered ID, entries.
        repaired: ``XGROUP SETID ... ENTRIESREAD`` succeeded (``False``: NOPERM).
    """

    group: str
    redis_lag: int
    undelivered: int
    repaired: bool


def parse_repairs(raw: Any) -> tuple[Repair, ...]:
    items = list(raw or ())
    return tuple(
        Repair(str(items[i]), int(items[i + 1]), int(items[i + 2]), int(items[i + 3]) == 1)
        for i in range(0, len(items) - 3, 4)
    )


@dataclass(frozen=True, slots=True)
class Admission:
    """The reply of one ``ingest_admit`` call.

    Attributes:
        admitted: the whole batch is in the stream (appended now, or before: ``repeat``).
        backlog: the largest group backlog before the batch (entries; may be a lower bound
            above ``limit`` when the lag had to be counted); 0 for a ``repeat``.
        length: XLEN after the call.
        reason: ``ok``, ``repeat`` (admitted by an earlier send of the same batch: its IDs,
            nothing appended), ``high-water`` (backlog above the limit) or ``cap`` (no room
            without trimming an unacknowledged entry).
        group: the group with the largest backlog ("" without groups).
        lag_source: how that group's lag was found (:class:`ingest.backlog.Undelivered`).
        first_id, last_id: entry IDs of the first and last entries of the batch (``None``
            when refused).
        repairs: stale lag counters seen (and repaired) on the way.
        note: "" or ``no-idempotence``: this Redis user may not GET/SET the producer key, so
            a re-sent batch may land twice.
    """

    admitted: bool
    backlog: int
    length: int
    reason: str
    group: str
    lag_source: str
    first_id: EntryId | None = None
    last_id: EntryId | None = None
    repairs: tuple[Repair, ...] = ()
    note: str = ""

    @property
    def repeat(self) -> bool:
        """The batch had been admitted by an earlier send (nothing appended now)."""
        return self.reason == "repeat"


def parse_admission(raw: Sequence[Any]) -> Admission:
    """Parse the ``ingest_admit`` reply array."""

    def entry_id(value: Any) -> EntryId | None:
        return EntryId(str(value)) if value else None

    return Admission(
        admitted=int(raw[0]) == 1,
        backlog=int(raw[1]),
        length=int(raw[2]),
        reason=str(raw[3]),
        group=str(raw[4]),
        lag_source=str(raw[5]),
        first_id=entry_id(raw[6]) if len(raw) > 6 else None,
        last_id=entry_id(raw[7]) if len(raw) > 7 else None,
        repairs=parse_repairs(raw[8]) if len(raw) > 8 else (),
        note=str(raw[9] or "") if len(raw) > 9 else "",
    )


def admit_args(
    entries: Sequence[Mapping[str, str]],
    *,
    maxlen: int,
    limit: int,
    no_group: str,
    batch: BatchId | None = None,
) -> list[str | int]:
    """The ARGV of ``ingest_admit``: protocol, maxlen, limit, no_group, seq, ttl_ms, n, then
    per entry its field count and field/value pairs (seq and ttl_ms 0 without ``batch``)."""
    seq, ttl_ms = (batch.seq, batch.ttl_ms) if batch is not None else (0, 0)
    args: list[str | int] = [LIBRARY_VERSION, maxlen, limit, no_group, seq, ttl_ms, len(entries)]
    for fields in entries:
        args.append(len(fields))
        for item in fields.items():
            args.extend(item)
    return args


def call_once(client: redis.Redis, *args: Any, conn: Any = None) -> Any:
    """Send one command and read its reply, without redis-py's automatic re-send.

    redis-py's ``retry=`` sends a command again after a timeout or a dropped connection; for
    ``ingest_admit`` that re-send is a second append of the batch whenever the first one was
    applied and only its reply was lost. Our caller re-sends itself (idempotently, logged and
    counted), so the command goes out exactly once here.

    Args:
        conn: a connection the caller holds (taken from ``client.connection_pool``), so that
            later commands go on the same connection (``WAIT`` covers only that connection's
            writes); default one from the pool for this command only. A held connection is
            closed on a connection error, not released.

    Raises:
        redis.ConnectionError, redis.TimeoutError, OSError: the connection failed (it is
            closed; the command may or may not have been applied).
        redis.ResponseError: an error reply.
        PermissionDenied: an ACL denial (:func:`ingest.connection.checked_error`).
    """
    pool: Any = client.connection_pool
    held = conn is not None
    conn = conn if held else pool.get_connection()
    parser: Any = client  # redis-py's own reply parsing (callbacks, decoding) is untyped
    try:
        conn.send_command(*args)
        return parser.parse_response(conn, args[0])
    except redis.ResponseError as exc:
        checked = checked_error(exc, args, client)
        if checked is exc:
            raise
        raise checked from None
    except BaseException:
        conn.disconnect()
        raise
    finally:
        if not held:
            pool.release(conn)


@contextmanager
def held_connection(client: redis.Redis) -> Iterator[Any]:
    """A connection of ``client``'s pool for several :func:`call_once` calls in a row; released
    after (closed first when anything but an error reply went wrong: its state is unknown)."""
    pool: Any = client.connection_pool
    conn = pool.get_connection()
    try:
        yield conn
    except redis.ResponseError:
        raise
    except BaseException:
        conn.disconnect()
        raise
    finally:
        pool.release(conn)


def admit(
    client: redis.Redis,
    stream: str,
    entries: Sequence[Mapping[str, str]],
    *,
    maxlen: int,
    limit: int,
    no_group: str = "block",
    batch: BatchId | None = None,
    conn: Any = None,
) -> Admission:
    """Offer ``entries`` to ``stream`` in one ``FCALL ingest_admit`` (one round trip, sent once:
    :func:`call_once`, on ``conn`` when given).

    Args:
        entries: entry fields, one mapping per entry (at least one field each).
        maxlen: the cap, entries.
        limit: admit only while the largest group backlog is at or below this (entries):
            ``high_water - 1`` while producing, ``low_water`` while paused.
        no_group: ``block`` or ``trim``, see :mod:`ingest.backlog`.
        batch: names the batch for idempotent re-sends; re-send a batch with the same
            ``BatchId`` after a connection error (``None``: no protection against a second
            append).

    Raises:
        redis.exceptions.OutOfMemoryError: the server is above maxmemory (noeviction);
            nothing was appended.
        redis.ResponseError: the function is missing (``ensure_loaded`` first), WRONGTYPE, or
            a ``batch`` older than one already admitted for its producer.
        redis.ConnectionError, redis.TimeoutError, OSError: the reply did not arrive; the
            batch may have been appended: re-send it with the same ``batch``.
    """
    args = admit_args(entries, maxlen=maxlen, limit=limit, no_group=no_group, batch=batch)
    keys = [stream] if batch is None else [stream, producer_key(stream, batch.producer_id)]
    raw: Any = call_once(client, "FCALL", ADMIT_FUNCTION, len(keys), *keys, *args, conn=conn)
    return parse_admission(raw)


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """``python -m ingest.admission print|load|version``: show, load or query the library.

    Exit codes: 0 done, 2 usage or configuration error, 3 Redis error.
    """
    parser = argparse.ArgumentParser(
        prog="python -m ingest.admission",
        description="""Load, print or check the ingest library of Redis Functions.

Producers, and python -m workers.dlq replay, add to the stream through this library: one
atomic call per batch checks every consumer group's backlog against the high-water mark,
makes room by trimming only entries every group has acknowledged, and adds the whole batch or
none of it. So the stream never grows past its cap and no unread entry is trimmed. A producer
loads the library itself when its Redis user may; otherwise load it once as an operator.

commands:
  print     write the library's source to stdout
  load      load (or replace) the library on the server at --redis-url
  version   show the version loaded on the server

When the application's Redis user may not run FUNCTION LOAD:
  python -m ingest.admission load --redis-url redis://admin:...@host:6379/0
  python -m ingest.admission print | redis-cli -x FUNCTION LOAD REPLACE

exit codes: 0 done, 2 usage or configuration error, 3 Redis error""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=("print", "load", "version"))
    add_options(parser, REDIS_OPTIONS)
    args = parser.parse_args(argv)
    if args.command == "print":
        sys.stdout.write(LIBRARY_CODE)
        return 0
    try:
        settings = RedisSettings.from_values(
            resolve(REDIS_OPTIONS, args, os.environ if environ is None else environ)
        )
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    client = sync_client(settings)  # Sentinel URLs, TLS, password files, refusal waits
    try:
        if args.command == "load":
            client.function_load(LIBRARY_CODE, replace=True)
        print(f"ingest library version {loaded_version(client)} at {settings.safe_url}")
    except IngestError as exc:  # refused credentials, TLS, ACL: 2; Redis unreachable: 3
        print(f"error: {exc}", file=sys.stderr)
        return 3 if isinstance(exc, RedisUnavailable) else 2
    except redis.RedisError as exc:
        print(f"error: {redact_url(settings.redis_url)}: {exc}", file=sys.stderr)
        return 3
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
