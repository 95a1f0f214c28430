"""Templates: stream text is data on every page (Jinja2 autoescape plus :mod:`ingest.display`).

Every value a template prints goes through the environment's ``finalize`` hook first: a string
gets :func:`ingest.display.visible` (control characters, ANSI escapes, bidi overrides shown as
``\\n``, ``\\x1b``, ``\\u202e``; bytes that are not UTF-8, which the Redis client hands us as
lone surrogates, as ``\\xNN``), then autoescape turns ``<``, ``>``, ``&`` and quotes into
entities. So no template can forget either step, and no ``|safe`` is used on stream text:
the only :class:`markupsafe.Markup` values are the templates' own macros and :func:`lines`,
which escapes itself.

Names travel in URLs and form fields as :func:`wire` text: percent-encoded UTF-8 with the bytes
that are not UTF-8 kept as they are (``surrogateescape``), and :func:`parse_pairs` reads them
back the same way, so a consumer named with such a byte still finds its pending entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_to_bytes, urlencode

import jinja2
from markupsafe import Markup, escape
from starlette.templating import Jinja2Templates

from ingest.display import visible, visible_lines
from ingest.stats_view import human_age

__all__ = ["build_templates", "lines", "parse_pairs", "query", "unwire", "wire"]

TEMPLATES = Path(__file__).parent / "templates"
SHOWN_CHARS = 4096
"""Most characters of one value a page shows (the whole value is one click away)."""


def wire(text: str) -> str:
    """``text`` percent-encoded for a URL or a form field (every byte but ``A-Za-z0-9_.-~``)."""
    return quote(text.encode("utf-8", "surrogateescape"), safe="")


def _unwire(raw: bytes) -> str:
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", "surrogateescape")


def unwire(text: str) -> str:
    """The text :func:`wire` encoded (from a hidden form field, whose value the browser sends
    back as it was)."""
    return unquote_to_bytes(text.encode("utf-8", "surrogateescape")).decode(
        "utf-8", "surrogateescape"
    )


def parse_pairs(raw: bytes) -> list[tuple[str, str]]:
    """``name=value&...`` (a query string or a form body) as ``(name, value)`` pairs, in
    order, decoded as :func:`wire` encoded them (bytes that are not UTF-8 kept)."""
    pairs = []
    for part in raw.split(b"&"):
        if part:
            name, _, value = part.partition(b"=")
            pairs.append((_unwire(name), _unwire(value)))
    return pairs


def query(path: str, **params: str | int | None) -> str:
    """``path?name=value&...`` with each value :func:`wire`-encoded; ``None`` values left out."""
    given = {k: str(v) for k, v in params.items() if v is not None and v != ""}
    if not given:
        return path
    return path + "?" + urlencode(given, quote_via=lambda s, *_: wire(str(s)))


def _finalize(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value)
    return value


def lines(text: str) -> Markup:
    """A multi-line value (a traceback) for a ``<pre>``: :func:`ingest.display.visible_lines`
    (each ``\\n`` shown and followed by a real line break), HTML-escaped here."""
    return Markup(escape(visible_lines(text)))  # noqa: S704 (escaped on this line)


def bounded(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` cut at ``limit`` characters, with the count of what was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]} [+{len(text) - limit} characters]"


def when(ms: int | None) -> str:
    """Unix ms as ``2024-06-10 12:00:00 UTC``; ``-`` for ``None``."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def per_s(value: float | None) -> str:
    """A rate for a table cell: ``-`` when unknown, else one decimal below 100."""
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def build_templates(globals_: Mapping[str, Any] | None = None) -> Jinja2Templates:
    """The templates of ``workers/web/templates`` with autoescape always on, ``finalize`` as
    the module docstring says, undefined names an error, and the filters ``wire``, ``age``
    (ms), ``when`` (Unix ms), ``per_s``, ``bounded`` and ``lines``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        wire=wire, age=human_age, when=when, per_s=per_s, bounded=bounded, lines=lines
    )
    env.globals.update(query=query, **(globals_ or {}))
    return Jinja2Templates(env=env)
