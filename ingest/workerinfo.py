"""What a worker publishes about itself for operators: handler, host, PID (contract module).

One hash per consumer, in the stream's hash slot (:func:`worker_info_key`):
``{stream}:worker:<group>:<consumer>`` with the fields of :data:`FIELDS`:

* ``handler``: the ``--handler`` reference (``mypkg.handlers:handle``), or ``sink:<scheme>``
  when the built-in sink runs;
* ``host``: ``socket.gethostname()``; ``pid``: ``os.getpid()``;
* ``started_at_ms``: when the worker started, Unix ms;
* ``version``: the package version (``importlib.metadata.version("redis-ingest")``).

The worker writes it at start (``HSET`` with :func:`worker_info_fields`, then ``EXPIRE`` with
its liveness key's TTL), refreshes the TTL with its liveness key, and deletes it at a
graceful stop. The dashboard reads it (``HGETALL``) and :meth:`WorkerInfo.parse` tolerates
anything: another program may have written the hash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ingest.pause import derived_key

__all__ = [
    "FIELDS",
    "Holder",
    "WorkerInfo",
    "parse_holder",
    "worker_info_fields",
    "worker_info_key",
]

FIELDS = ("handler", "host", "pid", "started_at_ms", "version")
"""The fields a worker writes (all strings, as every hash value)."""


def worker_info_key(stream: str, group: str, consumer: str) -> str:
    """The hash of ``consumer`` in ``group`` (``{stream}:worker:<group>:<consumer>``)."""
    return derived_key(stream, f"worker:{group}:{consumer}")


def worker_info_fields(
    handler: str, host: str, pid: int, started_at_ms: int, version: str
) -> dict[str, str]:
    """The ``HSET`` mapping a worker writes (see the module docstring)."""
    return {
        "handler": handler,
        "host": host,
        "pid": str(pid),
        "started_at_ms": str(started_at_ms),
        "version": version,
    }


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """The published hash, read back; empty strings and ``None`` for what is missing.

    Attributes:
        handler, host, version: as written.
        pid: the process id, ``None`` when missing or not a number.
        started_at_ms: Unix ms, ``None`` when missing or not a number.
    """

    handler: str = ""
    host: str = ""
    pid: int | None = None
    started_at_ms: int | None = None
    version: str = ""

    @classmethod
    def parse(cls, fields: Mapping[str, str]) -> WorkerInfo | None:
        """Read an ``HGETALL`` reply; ``None`` for an empty one (no such hash)."""
        if not fields:
            return None
        return cls(
            handler=fields.get("handler", ""),
            host=fields.get("host", ""),
            pid=_int(fields.get("pid")),
            started_at_ms=_int(fields.get("started_at_ms")),
            version=fields.get("version", ""),
        )


def _int(text: str | None) -> int | None:
    if text is None or not text.isascii() or not text.isdigit():
        return None
    return int(text)


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a consumer name: the value of its liveness key, parsed.

    Attributes:
        host: the worker's host name.
        started: the process start time in clock ticks since boot (``/proc/<pid>/stat``),
            "" when unknown or in the older ``host:pid`` form.
        pid: the process ID, or ``None`` when the value does not end in one.
    """

    host: str
    started: str
    pid: int | None


def parse_holder(value: str | None) -> Holder | None:
    """Parse a liveness key's value, ``<host>:<start>:<pid>`` (or the older ``<host>:<pid>``).

    Returns ``None`` for ``None``; a value of another shape (written by another program) comes
    back whole as the host with no PID. Host names hold no ``:``, so the split is unambiguous.
    """
    if value is None:
        return None
    parts = value.split(":")
    if len(parts) in (2, 3) and parts[-1].isascii() and parts[-1].isdigit():
        return Holder(parts[0], parts[1] if len(parts) == 3 else "", int(parts[-1]))
    return Holder(value, "", None)
