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


def agree(count: int, singular: str, plural_form: str) -> str:
    """The verb form matching ``count``: ``agree(1, "stays", "stay")`` is ``"stays"``, any
    other count (0 included) ``"stay"``."""
    return singular if count == 1 else plural_form
