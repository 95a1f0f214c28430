"""Built-in sinks (batch handlers). :func:`from_url` picks one from ``--sink``."""

from __future__ import annotations

from workers.sinks.sqlite import SqliteSink


def from_url(url: str) -> SqliteSink:
    """The sink for ``url`` (``sqlite:///PATH``; the only kind so far)."""
    return SqliteSink(url.removeprefix("sqlite:///"))


__all__ = ["SqliteSink", "from_url"]
