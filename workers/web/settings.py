"""Settings of ``python -m workers.web``: flags and ``INGEST_*`` variables, checked at start.

The Redis options (URL, password file, TLS) are the shared ones of
:data:`ingest.settings.REDIS_OPTIONS`; the streams shown default to ``INGEST_STREAM``. A
token or basic-auth credentials come from secret files (:mod:`ingest.secretfile`), never from
a flag's value; without either the dashboard is read-only.
"""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ingest.errors import ConfigError
from ingest.keys import StreamKeys
from ingest.secretfile import SecretFile, secret_file
from ingest.settings import (
    LOG_FORMAT_OPTION,
    REDIS_OPTIONS,
    STREAM_OPTION,
    Option,
    RedisSettings,
    boolean,
    label,
    log_level,
    positive_float,
    positive_int,
    resolve,
    text,
)

__all__ = ["WEB_CLI_OPTIONS", "WEB_OPTIONS", "Credentials", "WebSettings"]

DEFAULT_PORT = 8700


def _port(value: str) -> int:
    try:
        port = int(value.replace("_", ""))
    except ValueError:
        raise ValueError("must be a TCP port, 0..65535 (0 picks a free one)") from None
    if not 0 <= port <= 65535:
        raise ValueError("must be a TCP port, 0..65535 (0 picks a free one)")
    return port


def stream_list(value: str) -> tuple[str, ...]:
    """``a,b,c`` -> ``("a", "b", "c")``: each a valid stream name, none twice."""
    names = tuple(name.strip() for name in value.split(","))
    if not all(names):
        raise ValueError("must be stream names separated by commas, none empty")
    if len(set(names)) != len(names):
        raise ValueError("names a stream twice")
    for name in names:
        try:
            StreamKeys(name)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    return names


def http_url(value: str) -> str:
    """An ``http://`` or ``https://`` URL with a host, without a trailing ``/``."""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL, e.g. http://localhost:16686")
    return value.rstrip("/")


# fmt: off
WEB_OPTIONS: tuple[Option, ...] = (
    Option("host", "--host", "INGEST_WEB_HOST", text, "127.0.0.1",
           "address the dashboard binds: loopback unless told otherwise"),
    Option("port", "--port", "INGEST_WEB_PORT", _port, DEFAULT_PORT,
           "TCP port of the dashboard (0 picks a free one; the URL is printed)"),
    Option("streams", "--streams", "INGEST_WEB_STREAMS", stream_list, None,
           "streams to show, separated by commas (default INGEST_STREAM)"),
    Option("token_file", "--token-file", "INGEST_WEB_TOKEN_FILE", secret_file, None,
           "file holding the token that unlocks replay, purge and pause (log in with it); "
           "without it or --basic-auth-file the dashboard is read-only"),
    Option("basic_auth_file", "--basic-auth-file", "INGEST_WEB_BASIC_AUTH_FILE", secret_file,
           None, "file holding user:password for HTTP basic auth, which unlocks replay, purge "
           "and pause"),
    Option("jaeger_url", "--jaeger-url", "INGEST_JAEGER_URL", http_url, None,
           "Jaeger UI base URL: events link to their trace (<url>/trace/<trace id>)"),
    Option("refresh_s", "--refresh", "INGEST_WEB_REFRESH", positive_float, 2.0,
           "how often the live parts of a page reload, and the backlog chart samples", "s"),
    Option("history_s", "--history", "INGEST_WEB_HISTORY", positive_float, 600.0,
           "how far back the backlog chart reaches (kept in the dashboard's memory)", "s"),
    Option("find_limit", "--find-limit", "INGEST_WEB_FIND_LIMIT", positive_int, 10_000,
           "entries one search for an event reads per stream before it asks to go on",
           "entries"),
    Option("replay_max_block_s", "--replay-max-block", "INGEST_WEB_REPLAY_MAX_BLOCK",
           positive_float, 10.0,
           "longest a replay from the dashboard waits on backpressure before it reports what "
           "it could not replay", "s"),
    Option("secure_cookie", "--secure-cookie", "INGEST_WEB_SECURE_COOKIE", boolean, False,
           "mark the session cookie Secure (when served over HTTPS, e.g. behind a proxy)",
           is_flag=True),
    Option("log_level", "--log-level", "INGEST_LOG_LEVEL", log_level, "INFO", "log level"),
    LOG_FORMAT_OPTION,
)
# fmt: on

WEB_CLI_OPTIONS: tuple[Option, ...] = (*REDIS_OPTIONS, STREAM_OPTION, *WEB_OPTIONS)
"""Everything ``python -m workers.web`` reads."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who may change things: a token, or a basic-auth user and password; ``repr`` hides them.

    Attributes:
        kind: ``token`` or ``basic``.
        user: the basic-auth user (``operator`` for a token).
        secret: the token or the password.
    """

    kind: str
    user: str
    secret: str

    def __repr__(self) -> str:
        return f"Credentials(kind={self.kind!r}, user={self.user!r})"

    @classmethod
    def from_basic_file(cls, found: SecretFile, where: str) -> Credentials:
        """Read ``user:password`` from ``found``.

        Raises:
            ConfigError: no ``:`` or an empty user or password (the message names the file,
                never its content).
        """
        user, colon, password = found.value.partition(":")
        if not colon or not user or not password:
            raise ConfigError(f"{where} = {found.path!r}: must hold user:password on one line")
        return cls("basic", user, password)


@dataclass(frozen=True, slots=True)
class WebSettings:
    """Everything the dashboard needs (see :data:`WEB_OPTIONS` for each field's meaning).

    Attributes:
        redis: how to reach Redis.
        streams: the stream keys shown, in order.
        credentials: who may change things; ``None``: read-only.
        host, port: where to listen.
        jaeger_url: Jaeger UI base URL, or ``None``.
        refresh_s, history_s: live reload period and chart reach, seconds.
        find_limit: entries read per stream by one search.
        replay_max_block_s: longest wait of one replay on backpressure, seconds.
        secure_cookie: mark the session cookie ``Secure``.
        log_level, log_format: logging.
    """

    redis: RedisSettings = field(default_factory=RedisSettings)
    streams: tuple[str, ...] = ("ingest:events",)
    credentials: Credentials | None = None
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    jaeger_url: str | None = None
    refresh_s: float = 2.0
    history_s: float = 600.0
    find_limit: int = 10_000
    replay_max_block_s: float = 10.0
    secure_cookie: bool = False
    log_level: str = "INFO"
    log_format: str = "auto"

    @property
    def read_only(self) -> bool:
        """No credentials are configured: nothing can be changed from the dashboard."""
        return self.credentials is None

    @property
    def loopback(self) -> bool:
        """The dashboard listens on a loopback address only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @classmethod
    def from_sources(
        cls, args: argparse.Namespace | Mapping[str, Any] | None, environ: Mapping[str, str]
    ) -> WebSettings:
        """Build from parsed flags and ``environ`` (flag beats variable beats default).

        Raises:
            ConfigError: a value that does not parse, both a token and basic auth, or a
                basic-auth file that does not hold ``user:password``.
        """
        values = resolve(WEB_CLI_OPTIONS, args, environ)
        token, basic = values["token_file"], values["basic_auth_file"]
        if token is not None and basic is not None:
            raise ConfigError(
                f"{label(WEB_OPTIONS, 'token_file')} and "
                f"{label(WEB_OPTIONS, 'basic_auth_file')}: give one"
            )
        credentials = None
        if token is not None:
            credentials = Credentials("token", "operator", token.value)
        elif basic is not None:
            credentials = Credentials.from_basic_file(basic, label(WEB_OPTIONS, "basic_auth_file"))
        streams = values["streams"] or (values["stream"],)
        StreamKeys(streams[0])
        names: tuple[str, ...] = ("host", "port", "jaeger_url", "refresh_s", "history_s")
        names += ("find_limit", "replay_max_block_s", "secure_cookie", "log_level", "log_format")
        return cls(
            redis=RedisSettings.from_values(values),
            streams=tuple(streams),
            credentials=credentials,
            **{name: values[name] for name in names},
        )
