"""Field paths such as ``customer.id``: how ``--id-field`` names a value inside a payload.

A path is keys separated by dots, read from the outside in: ``customer.id`` is
``payload["customer"]["id"]``. A key that contains a dot is written with a backslash before
the dot (``order\\.id`` names the top-level key ``order.id``; ``\\\\`` is one backslash). A
segment that is a decimal integer also indexes a JSON array (``items.0.sku``). Keys are matched
exactly (case-sensitive); an empty segment (``a..b``, a leading or trailing dot) is refused.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = ["MISSING", "describe", "parse_path", "resolve"]

MISSING: Any = object()
"""What :func:`resolve` returns when the path leads nowhere."""


@lru_cache(maxsize=64)
def parse_path(text: str) -> tuple[str, ...]:
    """The keys of the path ``text``: ``customer.id`` -> ``("customer", "id")``,
    ``a\\.b`` -> ``("a.b",)``.

    Raises:
        ValueError: an empty path or segment, a trailing backslash, or a backslash before
            anything but a dot or a backslash; the message says which.
    """
    keys: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            if char not in ".\\":
                raise ValueError(
                    rf"unknown escape \{char}: write \. for a dot in a key, \\ for a backslash"
                )
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ".":
            keys.append(_segment(current, text))
            current = []
        else:
            current.append(char)
    if escaped:
        raise ValueError(r"ends in a lone backslash: write \\ for a backslash in a key")
    keys.append(_segment(current, text))
    return tuple(keys)


def _segment(chars: list[str], text: str) -> str:
    if not chars:
        raise ValueError(
            f"{text!r} has an empty key (a leading, trailing or double dot); "
            r"write \. for a dot that is part of a key"
        )
    return "".join(chars)


def resolve(payload: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` in ``payload``, or :data:`MISSING`: each key looks into an
    object (``dict``), or, when it is a decimal integer, into an array (``list``) by
    0-based index."""
    if len(path) == 1 and type(payload) is dict:  # the common case, kept fast
        return payload.get(path[0], MISSING)
    value = payload
    for key in path:
        if isinstance(value, dict):
            if key not in value:
                return MISSING
            value = value[key]
        elif isinstance(value, list) and key.isascii() and key.isdigit():
            index = int(key)
            if index >= len(value):
                return MISSING
            value = value[index]
        else:
            return MISSING
    return value


def describe(path: tuple[str, ...]) -> str:
    """``path`` written back as ``--id-field`` takes it (dots in keys escaped)."""
    return ".".join(key.replace("\\", "\\\\").replace(".", "\\.") for key in path)
