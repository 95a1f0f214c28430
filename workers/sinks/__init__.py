"""Built-in sinks (batch handlers). :func:`from_url` picks one from ``--sink``."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from workers.sinks.sqlite import SqliteSink


def sqlite_path(url: str) -> Path:
    """The database file of ``sqlite:///PATH`` (``sqlite:///./x.db`` is relative to the
    working directory, ``sqlite:////data/x.db`` absolute)."""
    return Path(url.removeprefix("sqlite:///"))


def check_durable(url: str) -> None:
    """Refuse a sink that cannot keep what the worker acknowledges.

    The worker acknowledges an entry once the sink has it, so a sink that loses its data when
    the process ends (SQLite's in-memory database ``sqlite:///:memory:``, or a ``file:`` URI
    with ``mode=memory``) would turn every acknowledged entry into a silent loss.

    Raises:
        ValueError: naming why the sink would not keep the data.
    """
    name = url.removeprefix("sqlite:///")
    if name == "" or name.startswith(":memory:") or "mode=memory" in name:
        raise ValueError(
            "an in-memory SQLite database keeps nothing after the worker exits, yet the worker "
            "acknowledges each entry once the sink has it (silent loss); give a file path"
        )


def check_url(url: str) -> None:
    """Check, without creating anything, that the sink at ``url`` can be opened for writing
    and keeps what it is given (:func:`check_durable`).

    SQLite in WAL mode creates ``-wal`` and ``-shm`` files next to the database, so the
    directory itself must be writable, not only the file.

    Raises:
        ValueError: with the reason (in memory, directory missing or not writable, path is a
            directory, file not writable).
    """
    check_durable(url)
    path = sqlite_path(url).absolute()  # a relative path's message shows where it points
    directory = path.parent
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise ValueError(f"directory {directory} {what}")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a database file")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ValueError(f"directory {directory} is not writable (SQLite needs its -wal file)")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise ValueError(f"{path} is not readable and writable")


def from_url(url: str) -> SqliteSink:
    """The sink for ``url`` (``sqlite:///PATH``; the only kind so far).

    Raises:
        ValueError: the database cannot be opened (not an SQLite file, I/O error), with
            SQLite's reason, or would not keep the data (:func:`check_durable`).
    """
    check_durable(url)
    try:
        return SqliteSink(sqlite_path(url))
    except sqlite3.Error as exc:
        raise ValueError(f"cannot open the SQLite database {sqlite_path(url)}: {exc}") from None


__all__ = ["SqliteSink", "check_durable", "check_url", "from_url", "sqlite_path"]
