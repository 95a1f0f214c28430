"""Small helpers for log lines a human reads."""

from __future__ import annotations


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``"1 entry"``, ``"3 entries"``: ``count`` and the noun in the matching number.

    Args:
        count: how many.
        singular: the noun for one (``"delivery"``).
        plural_form: the noun for any other count; default ``singular + "s"``.
    """
    noun = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count} {noun}"
