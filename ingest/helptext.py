"""Plain text for ``--help`` from a module docstring written in reStructuredText (pure).

Docstrings here use Sphinx-style markup (````code````, ``:func:`name```, a ``::`` before a
literal block) that reads well in the source and in generated docs but is noise on a
terminal. :func:`plain_help` strips it, so a CLI can keep one text for both.
"""

from __future__ import annotations

import re

__all__ = ["plain_help"]

_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc|obj|ref):`~?([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)
_TITLED = re.compile(r"`([^`<]+?) <[^`>]+>`_")  # `text <url>`_ -> text
_DOUBLE_COLON = re.compile(r"(?<=\S)::$", re.MULTILINE)  # "Commands::" -> "Commands:"
_BARE_COLONS = re.compile(r"^\s*::\s*$\n?", re.MULTILINE)  # a "::" line of its own goes


def plain_help(doc: str | None) -> str:
    """``doc`` without reStructuredText markup: roles become their target's name
    (``:func:`ingest.x.y``` -> ``ingest.x.y``), literals their text, ``Title::`` becomes
    ``Title:``; line breaks and indentation stay (use ``RawDescriptionHelpFormatter``).
    ``None`` gives ``""``."""
    if not doc:
        return ""
    text = _ROLE.sub(r"\1", doc)
    text = _TITLED.sub(r"\1", text)
    text = _LITERAL.sub(r"\1", text)
    text = _BARE_COLONS.sub("", text)
    return _DOUBLE_COLON.sub(":", text).strip()
