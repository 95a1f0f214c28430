"""Keeping secrets out of text: URL redaction and a registry of known secret values.

Two layers, both applied by :func:`redact_text`:

* **By shape.** A Redis URL's password (``redis://user:secret@host``) and the value of any
  secret-bearing query parameter (``password=``, ``ssl_password=``, and every other name in
  :data:`SECRET_PARAMETERS`) become ``***``, wherever such a URL or parameter appears in the
  text. This needs no set-up and also covers URLs the process never configured (a URL in an
  exception message from a handler).
* **By value.** :func:`register_secret` records a secret the process knows (the content of
  ``--redis-password-file``, the password of ``--redis-url``, the TLS key passphrase);
  :func:`redact_secrets` replaces each occurrence of a registered value with ``***``, in any
  shape: a password quoted back in an exception message, a dead-letter field, a span status.

The registry is process-wide (a secret stays secret for the life of the process) and guarded
by a lock; values shorter than :data:`MIN_SECRET_CHARS` are not registered (replacing every
``"a"`` in a log line would garble it and hide nothing). Standard library only: contract
modules (:mod:`ingest.settings`) import it.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote, unquote

MASK = "***"

SECRET_PARAMETERS = ("password", "ssl_password", "sentinel_password", "token", "secret")
"""URL query parameters whose values are secrets (any case); redis-py passes each query
parameter to the connection, so ``password=`` authenticates like ``user:pass@`` and
``ssl_password=`` unlocks the TLS client key."""

MIN_SECRET_CHARS = 4
"""Shorter values are not registered as secrets (see the module docstring)."""

# A URL in free text: scheme, ``://``, then anything up to white space, a quote or a bracket.
_URL_IN_TEXT = re.compile(r"[a-z][a-z0-9+.\-]*://[^\s\"'<>]*", re.I)
_NAMES = "|".join(SECRET_PARAMETERS)
# ``?password=x`` / ``&ssl_password=x`` (also ``;``-separated): the value up to the next
# separator, white space, quote or bracket.
_QUERY_SECRET = re.compile(rf"([?&;](?:{_NAMES})=)([^&;#\s\"'<>]+)", re.I)
_HINT = re.compile(rf"(?:{_NAMES})=", re.I)

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()
"""Registered values, longest first (so a secret containing another is masked whole)."""


def register_secret(value: str | bytes | None) -> None:
    """Remember ``value`` as a secret of this process; later text containing it is masked.

    Also registers its percent-encoded form (as it would appear inside a URL). ``None``,
    empty and short values (below :data:`MIN_SECRET_CHARS`) are ignored. Idempotent.
    """
    global _secrets
    if value is None:
        return
    text = value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
    forms = {text, quote(text, safe=""), unquote(text)}
    with _lock:
        known = set(_secrets)
        known.update(f for f in forms if len(f) >= MIN_SECRET_CHARS)
        _secrets = tuple(sorted(known, key=len, reverse=True))


def registered_secret_count() -> int:
    """How many secret values (forms included) are registered (for tests and diagnostics)."""
    return len(_secrets)


def clear_secrets() -> None:
    """Forget every registered secret (tests only: a process never needs to)."""
    global _secrets
    with _lock:
        _secrets = ()


def redact_secrets(text: str) -> str:
    """Return ``text`` with every registered secret value replaced by ``***``.

    Cheap when nothing is registered or nothing matches (one substring test per secret).
    For span status, exception events, dead-letter fields and any other text leaving the
    process; :func:`redact_text` includes it.
    """
    secrets = _secrets
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``; never raises.

    ``redis://user:secret@host:6379/0`` becomes ``redis://user:***@host:6379/0``, and the
    value of each secret query parameter (``password=``, ``ssl_password=``, see
    :data:`SECRET_PARAMETERS`) ``***`` (a ``username=`` parameter is kept). The URL's text is
    worked on as it is, not parsed: a URL with a bad port or other damage is still redacted
    (and otherwise shown unchanged, so the error about it makes sense). The userinfo ends at
    the last ``@`` before the first ``/``, so an unescaped ``@`` or ``?`` in a password is
    redacted too. Registered secrets (:func:`register_secret`) are masked as well.
    """
    scheme, sep, rest = url.partition("://")
    if sep:
        slash = rest.find("/")
        authority, tail = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
        userinfo, at, host = authority.rpartition("@")
        user, colon, password = userinfo.partition(":")
        if at and colon and password:
            url = f"{scheme}://{user}:{MASK}@{host}{tail}"
    if _HINT.search(url):
        url = _QUERY_SECRET.sub(rf"\1{MASK}", url)
    return redact_secrets(url)


def redact_text(text: str) -> str:
    """Return ``text`` with the password of every URL in it, every secret query parameter's
    value and every registered secret replaced by ``***`` (see :func:`redact_url`).

    Text without ``://``, a secret parameter name or a registered secret is returned
    unchanged without a regex pass (the common case: every log line goes through here).
    """
    if "://" in text:
        text = _URL_IN_TEXT.sub(lambda match: redact_url(match.group()), text)
    if "=" in text and _HINT.search(text):
        text = _QUERY_SECRET.sub(rf"\1{MASK}", text)
    return redact_secrets(text)
