"""Test helpers: waiting on a condition with a deadline instead of sleeping."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T], timeout_s: float = 10.0, interval_s: float = 0.02, what: str = ""
) -> T:
    """Poll ``predicate`` until it returns a truthy value; return that value.

    Raises ``AssertionError`` naming ``what`` when ``timeout_s`` passes first.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or predicate}")
        time.sleep(interval_s)  # polling interval, not a wait for an outcome


def error_lines(stderr: str) -> list[str]:
    """The one-line errors a CLI printed: ``error: ...`` lines, and JSON log lines at ERROR or
    above (the worker ends with one in JSON log mode), each as ``error: <message>``."""
    out: list[str] = []
    for line in stderr.splitlines():
        if line.startswith("error: "):
            out.append(line)
        elif line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("level") in ("ERROR", "CRITICAL"):
                out.append(f"error: {record.get('message', '')}")
    return out
