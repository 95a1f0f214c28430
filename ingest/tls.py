"""TLS to Redis: verification on unless explicitly off, and TLS failures told apart from outages.

:func:`tls_options` turns :class:`~ingest.settings.RedisSettings` into redis-py's ``ssl_*``
connection keywords. Certificate and host name checks are always asked for explicitly
(``ssl_cert_reqs="required"``, ``ssl_check_hostname=True``), whatever the redis-py version's
defaults; only ``--tls-insecure`` turns them off, and :func:`warn_if_insecure` logs a WARNING
for it once per process.

A failed handshake (unknown CA, expired certificate, host name mismatch, a client key that
does not load, a server refusing our client certificate) raises :class:`TlsError`, a
:class:`~ingest.errors.ConfigError` (CLIs exit 2) that is no ``redis.ConnectionError`` and no
``OSError``: redis-py's retries and our connect-deadline loop pass it through at once, where a
network failure would be retried for ``--connect-timeout`` and reported as "unreachable".
"""

from __future__ import annotations

import logging
import ssl
import threading
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.connection
import redis.connection

from ingest.errors import ConfigError
from ingest.settings import REDIS_OPTIONS, RedisSettings, label

log = logging.getLogger(__name__)

_warned = threading.Event()


class TlsError(ConfigError):
    """The TLS handshake with Redis failed for a reason retrying cannot fix.

    Attributes:
        address: ``host:port`` of the server.
        reason: OpenSSL's reason (``certificate verify failed: ...``).
    """

    def __init__(self, address: str, reason: str, hint: str) -> None:
        super().__init__(f"TLS with Redis at {address} failed: {reason}{hint}")
        self.address = address
        self.reason = reason


def _hint(exc: ssl.SSLError) -> str:
    text = str(exc).lower()
    ca = label(REDIS_OPTIONS, "tls_ca_file")
    if isinstance(exc, ssl.SSLCertVerificationError):
        if "hostname mismatch" in text or "ip address mismatch" in text:
            return "; the URL's host must be a name (or IP address) the server's certificate lists"
        return f"; is {ca} the CA that signed the server's certificate?"
    if "certificate required" in text or "alert" in text:
        return (
            f"; the server refused our client certificate ({label(REDIS_OPTIONS, 'tls_cert_file')})"
        )
    if "wrong version number" in text or "record layer" in text or "packet length" in text:
        return "; is this a TLS port? (rediss:// needs the server's tls-port)"
    return ""


def tls_failure(exc: BaseException, address: str) -> TlsError | None:
    """The :class:`TlsError` an exception from connecting means, or ``None``.

    Looks at ``exc`` and its cause and context (redis-py wraps the ``ssl.SSLError`` of a read
    into a ``ConnectionError``). End-of-file and want-read conditions are not TLS failures:
    a dropped connection is an outage like any other.
    """
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError) and not isinstance(
            seen, ssl.SSLEOFError | ssl.SSLZeroReturnError | ssl.SSLWantReadError
        ):
            reason = getattr(seen, "verify_message", None) or seen.reason or str(seen)
            if isinstance(seen, ssl.SSLCertVerificationError):
                reason = f"certificate verify failed: {reason}"
            return TlsError(address, str(reason).lower().replace("_", " "), _hint(seen))
        seen = seen.__cause__ or seen.__context__
    return None


class VerifiedSSLConnection(redis.connection.SSLConnection):
    """redis-py's ``SSLConnection`` raising :class:`TlsError` for a failed handshake."""

    def _connect(self) -> Any:
        try:
            return super()._connect()  # type: ignore[no-untyped-call]
        except ssl.SSLError as exc:
            failure = tls_failure(exc, f"{self.host}:{self.port}")
            if failure is None:
                raise
            raise failure from None


class AsyncVerifiedSSLConnection(redis.asyncio.connection.SSLConnection):
    """redis-py's asyncio ``SSLConnection`` raising :class:`TlsError` for a failed handshake."""

    async def _connect(self) -> None:
        try:
            await super()._connect()  # type: ignore[no-untyped-call]
        except ssl.SSLError as exc:
            failure = tls_failure(exc, f"{self.host}:{self.port}")
            if failure is None:
                raise
            raise failure from None


def tls_options(settings: RedisSettings, *, asyncio: bool = False) -> dict[str, Any]:
    """redis-py connection keywords for ``settings``' TLS (``{}`` for redis:// and unix://).

    Includes ``connection_class`` (:class:`VerifiedSSLConnection` or the asyncio one), which
    wins over the one redis-py picks from the ``rediss://`` scheme.
    """
    if settings.tls_mode == "off":
        return {}
    options: dict[str, Any] = {
        "connection_class": AsyncVerifiedSSLConnection if asyncio else VerifiedSSLConnection,
        "ssl_cert_reqs": "none" if settings.tls_insecure else "required",
        "ssl_check_hostname": not settings.tls_insecure,
    }
    if settings.tls_ca_file:
        options["ssl_ca_certs"] = settings.tls_ca_file
    if settings.tls_cert_file:
        options["ssl_certfile"] = settings.tls_cert_file
        options["ssl_keyfile"] = settings.tls_key_file
    if settings.tls_key_password_file is not None:
        options["ssl_password"] = settings.tls_key_password_file.value
    return options


def warn_if_insecure(settings: RedisSettings) -> None:
    """Log a WARNING (once per process) when ``--tls-insecure`` turns verification off."""
    if settings.tls_mode != "insecure" or _warned.is_set():
        return
    _warned.set()
    log.warning(
        "TLS verification is OFF (%s): the Redis server's certificate and host name are not "
        "checked, so anyone on the network path can impersonate it and read the traffic",
        label(REDIS_OPTIONS, "tls_insecure"),
    )
