"""Atomic admission: one Redis Function call per batch checks the backlog, trims safely, appends.

The ``ingest`` Functions library (:mod:`ingest.library`; this part in ``ingest/lua/admission.lua``)
exports:

* ``ingest_admit`` (``FCALL``): reads every group's backlog (see :mod:`ingest.backlog`); when
  the largest is above the caller's ``limit`` it refuses the batch (reason ``high-water``).
  Otherwise, if the batch would take the stream past ``maxlen``, it trims entries that every
  group has acknowledged (``XTRIM MINID`` up to the oldest entry any group still has pending or
  undelivered, or exact ``MAXLEN`` when no group needs any entry) and refuses the batch
  (reason ``cap``) if that does not make room. Else it appends the whole batch. XLEN never
  exceeds ``maxlen``: there is no ``~`` slack. Entry IDs are compared as decimal strings and
  the first undelivered entry is read with ``XRANGE (<last-delivered-id> + COUNT 1``, never
  computed: Lua numbers are doubles, exact only up to 2^53, and a sequence part may reach
  2^64-1.
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from ingest.backlog import Backlog, GroupBacklog, group_backlog, read_backlog
from ingest.errors import IngestError
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
    "Backlog",
    "GroupBacklog",
    "admit",
    "admit_args",
    "ensure_loaded",
    "group_backlog",
    "library_code",
    "loaded_version",
    "read_backlog",
]

log = logging.getLogger(__name__)

ADMIT_FUNCTION = "ingest_admit"


@dataclass(frozen=True, slots=True)
class Admission:
    """The reply of one ``ingest_admit`` call.

    Attributes:
        admitted: the whole batch was appended.
        backlog: the largest group backlog before the batch (entries; may be a lower bound
            above ``limit`` when the lag had to be counted).
        length: XLEN after the call.
        reason: ``ok``, ``high-water`` (backlog above the limit) or ``cap`` (no room without
            trimming an unacknowledged entry).
        group: the group with the largest backlog ("" without groups).
        lag_source: how that group's lag was found (see :class:`GroupBacklog`).
        first_id, last_id: entry IDs of the first and last appended entries (``None`` when
            refused).
    """

    admitted: bool
    backlog: int
    length: int
    reason: str
    group: str
    lag_source: str
    first_id: EntryId | None = None
    last_id: EntryId | None = None


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
    )


def admit_args(
    entries: Sequence[Mapping[str, str]], *, maxlen: int, limit: int, no_group: str
) -> list[str | int]:
    """The ARGV of ``ingest_admit``: protocol, maxlen, limit, no_group, n, then per entry
    its field count and field/value pairs."""
    args: list[str | int] = [LIBRARY_VERSION, maxlen, limit, no_group, len(entries)]
    for fields in entries:
        args.append(len(fields))
        for item in fields.items():
            args.extend(item)
    return args


def admit(
    client: redis.Redis,
    stream: str,
    entries: Sequence[Mapping[str, str]],
    *,
    maxlen: int,
    limit: int,
    no_group: str = "block",
) -> Admission:
    """Offer ``entries`` to ``stream`` in one ``FCALL ingest_admit`` (one round trip).

    Args:
        entries: entry fields, one mapping per entry (at least one field each).
        maxlen: the cap, entries.
        limit: admit only while the largest group backlog is at or below this (entries):
            ``high_water - 1`` while producing, ``low_water`` while paused.
        no_group: ``block`` or ``trim``, see :mod:`ingest.backlog`.

    Raises:
        redis.exceptions.OutOfMemoryError: the server is above maxmemory (noeviction);
            nothing was appended.
        redis.ResponseError: the function is missing (``ensure_loaded`` first) or WRONGTYPE.
    """
    args = admit_args(entries, maxlen=maxlen, limit=limit, no_group=no_group)
    raw: Any = client.fcall(ADMIT_FUNCTION, 1, stream, *args)
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
    client = redis.Redis.from_url(
        settings.redis_url, decode_responses=True, socket_connect_timeout=settings.connect_timeout_s
    )
    try:
        if args.command == "load":
            client.function_load(LIBRARY_CODE, replace=True)
        print(f"ingest library version {loaded_version(client)} at {settings.safe_url}")
    except redis.RedisError as exc:
        print(f"error: {redact_url(settings.redis_url)}: {exc}", file=sys.stderr)
        return 3
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
