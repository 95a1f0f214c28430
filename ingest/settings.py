"""Typed settings read from CLI flags and ``INGEST_*`` environment variables (contract module).

Each setting is declared once as an :class:`Option` (flag, variable, parser, default, unit,
help). A CLI adds the options to its ``argparse`` parser with :func:`add_options` and builds
its settings object with :func:`resolve`; a flag beats a variable, which beats the default.
Every bad value or impossible combination raises :class:`~ingest.errors.ConfigError` naming
the flag, the variable and the value; CLIs exit with code 2 on it.

``OTEL_*`` variables are read by the OpenTelemetry SDK itself (see :mod:`ingest.telemetry`).
"""

from __future__ import annotations

import argparse
import codecs
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from ingest.csvtypes import parse_csv_types
from ingest.errors import ConfigError
from ingest.fieldpath import parse_path

# Redaction lives in ingest.redaction (with the registry of secret values); re-exported here.
from ingest.redaction import redact_text as redact_text
from ingest.redaction import redact_url as redact_url
from ingest.redaction import register_secret
from ingest.redis_url import check_query, query_parameters
from ingest.secretfile import SecretFile, readable_file, secret_file
from ingest.sentinel_url import SCHEMES as SENTINEL_SCHEMES
from ingest.sentinel_url import parse_sentinel_url

T = TypeVar("T")

DEFAULT_REDIS_URL = "redis://localhost:6379/0"


# ---- value parsers: each raises ValueError with a short reason --------------------------------


def _whole(text: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise ValueError("must be a whole number") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("must be a number") from None


def positive_int(text: str) -> int:
    """Parse an integer >= 1 (``_`` separators allowed)."""
    value = _whole(text)
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    """Parse an integer >= 0."""
    value = _whole(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def positive_float(text: str) -> float:
    """Parse a finite number > 0."""
    value = _number(text)
    if not value > 0 or value == float("inf"):
        raise ValueError("must be a positive number")
    return value


def non_negative_float(text: str) -> float:
    """Parse a finite number >= 0."""
    value = _number(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError("must be a non-negative number")
    return value


def boolean(text: str) -> bool:
    """Parse ``1/0, true/false, yes/no, on/off`` (any case)."""
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("must be true or false")


def choice(*allowed: str) -> Callable[[str], str]:
    """Return a parser accepting only one of ``allowed``.

    The parser carries them as its ``choices`` attribute, which :func:`add_options` shows in
    ``--help`` (``--format {csv,jsonl,lines}``) when the :class:`Option` names none itself.
    """

    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return text

    parse.choices = allowed  # type: ignore[attr-defined]
    return parse


def redis_url(text: str) -> str:
    """Accept ``redis://``, ``rediss://`` and ``unix://`` URLs with a valid port (1-65535) and
    database index (a non-negative integer, as the path ``/N`` or the query ``?db=N``), and
    ``redis+sentinel://`` / ``rediss+sentinel://`` URLs naming sentinels and a service
    (:mod:`ingest.sentinel_url`).

    Whether the server has that many databases is only known at connect time
    (:mod:`ingest.connection`).
    """
    parts = urlsplit(text)
    if parts.scheme in SENTINEL_SCHEMES:
        parse_sentinel_url(text)
        check_query(text)
        return text
    if parts.scheme not in {"redis", "rediss", "unix"}:
        raise ValueError(
            "must be a redis://, rediss://, unix://, redis+sentinel:// or rediss+sentinel:// URL"
        )
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or (parts.netloc.endswith(":") and parts.scheme != "unix"):
        raise ValueError("the port must be a number from 1 to 65535")
    dbs = [] if parts.scheme == "unix" else [parts.path.strip("/")]
    dbs += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k == "db"]
    for db in dbs:
        if db and not (db.isascii() and db.isdigit()):
            raise ValueError(f"the database index must be a non-negative integer, not {db!r}")
    check_query(text)
    return text


def log_level(text: str) -> str:
    """Parse a log level name, any case, to upper case (``DEBUG`` ... ``CRITICAL``)."""
    upper = text.strip().upper()
    if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return upper


def text(value: str) -> str:
    """Accept any non-empty string."""
    if not value:
        raise ValueError("must not be empty")
    return value


def text_encoding(name: str) -> str:
    """Parse a text encoding that can be read line by line: line endings, quotes and ASCII
    are single bytes (utf-8, latin-1, cp1252, iso8859-15, ...); its canonical name."""
    try:
        found = codecs.lookup(name).name
    except LookupError:
        raise ValueError("unknown encoding (try utf-8, latin-1 or cp1252)") from None
    probe = '\n\r",;abcXYZ09{}[]'
    try:
        ascii_compatible = probe.encode(found) == probe.encode("ascii")
    except UnicodeError:
        ascii_compatible = False
    if not ascii_compatible:
        raise ValueError(f"{found} is not ASCII-compatible, so lines cannot be split in it")
    return found


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: its flag, its environment variable and how to parse it.

    Attributes:
        dest: attribute name on the settings object.
        flag: the CLI flag (``--maxlen``); ``None`` for a variable-only setting.
        env: the environment variable (``INGEST_MAXLEN``); ``None`` for a flag-only setting.
        parse: turns text into the value; raises ``ValueError`` with a short reason.
        default: the value when neither flag nor variable is given (not parsed).
        help: one line for ``--help`` and the README's settings table.
        unit: unit for humans (``entries``, ``s``, ``ms``, ``bytes``), or "".
        secret: redact URL passwords when showing the value.
        is_flag: a boolean switch (``--burst``) rather than a flag taking a value.
        choices: the accepted values, shown in ``--help`` as the metavar
            (``--format {csv,jsonl,lines}``); default those of a :func:`choice` parser.
            Only shown: ``parse`` still does the checking.
    """

    dest: str
    flag: str | None
    env: str | None
    parse: Callable[[str], Any]
    default: Any
    help: str
    unit: str = ""
    secret: bool = False
    is_flag: bool = False
    choices: tuple[str, ...] | None = None

    @property
    def allowed(self) -> tuple[str, ...] | None:
        """``choices``, else those of a :func:`choice` parser, else ``None``."""
        if self.choices is not None:
            return self.choices
        found = getattr(self.parse, "choices", None)
        return tuple(found) if found is not None else None

    @property
    def label(self) -> str:
        """``--flag / VARIABLE``, as used in error messages."""
        return " / ".join(name for name in (self.flag, self.env) if name)


def label(options: Iterable[Option], dest: str) -> str:
    """Return the ``--flag / VARIABLE`` label of ``dest`` in ``options``."""
    for option in options:
        if option.dest == dest:
            return option.label
    return dest


def add_options(parser: argparse.ArgumentParser, options: Iterable[Option]) -> None:
    """Add ``options`` with a flag to ``parser``; values stay text until :func:`resolve`."""
    for option in options:
        if option.flag is None:
            continue
        unit = f" ({option.unit})" if option.unit else ""
        env = f" [env {option.env}]" if option.env else ""
        help_text = f"{option.help}{unit}{_default_text(option)}{env}".replace("%", "%%")
        if option.is_flag:
            parser.add_argument(
                option.flag, dest=option.dest, action="store_const", const="true", help=help_text
            )
            continue
        allowed = option.allowed
        metavar = "{" + ",".join(allowed) + "}" if allowed else None
        parser.add_argument(
            option.flag, dest=option.dest, default=None, metavar=metavar, help=help_text
        )


def _default_text(option: Option) -> str:
    # No default (None) says nothing: the help text explains what happens without a value.
    if option.default is None:
        return ""
    shown: object = option.default
    if option.is_flag or isinstance(shown, bool):  # as the README's table says it
        shown = "on" if shown else "off"
    elif option.secret:
        shown = redact_url(str(shown))
    return f"; default {shown}"


def resolve(
    options: Sequence[Option],
    args: argparse.Namespace | Mapping[str, Any] | None,
    environ: Mapping[str, str],
) -> dict[str, Any]:
    """Return ``{dest: value}`` for ``options``: flag, else variable, else default.

    Raises:
        ConfigError: a value that does not parse, naming where it came from (the flag or
            the variable), the value (a URL's password redacted) and both names of the
            setting: ``--maxlen = '0' (--maxlen / INGEST_MAXLEN): must be at least 1``.
    """
    given: Mapping[str, Any]
    if args is None:
        given = {}
    elif isinstance(args, argparse.Namespace):
        given = vars(args)
    else:
        given = args
    values: dict[str, Any] = {}
    for option in options:
        raw, where = given.get(option.dest), option.flag
        if raw is None and option.env is not None and option.env in environ:
            raw, where = environ[option.env], option.env
        if raw is None:
            values[option.dest] = option.default
            continue
        if not isinstance(raw, str):
            values[option.dest] = raw
            continue
        try:
            values[option.dest] = option.parse(raw)
        except ValueError as exc:
            shown = redact_url(raw) if option.secret else raw
            names = f" ({option.label})" if option.label != where else ""
            raise ConfigError(f"{where} = {shown!r}{names}: {exc}") from None
    return values


# ---- the shared options ----------------------------------------------------------------------

REDIS_OPTIONS: tuple[Option, ...] = (
    Option(
        "redis_url",
        "--redis-url",
        "INGEST_REDIS_URL",
        redis_url,
        DEFAULT_REDIS_URL,
        "Redis URL (redis://, rediss://, unix://; a primary behind Sentinel: "
        "redis+sentinel://[user:password@]host:26379[,host:26379...]/<service>[/<db>], "
        "rediss+sentinel:// for TLS)",
        secret=True,
    ),
    Option(
        "connect_timeout_s",
        "--connect-timeout",
        "INGEST_CONNECT_TIMEOUT",
        positive_float,
        10.0,
        "how long to keep retrying to reach Redis at start before giving up",
        "s",
    ),
    Option(
        "socket_timeout_s",
        "--socket-timeout",
        "INGEST_SOCKET_TIMEOUT",
        positive_float,
        15.0,
        "Redis socket read timeout; blocking reads must stay below it",
        "s",
    ),
    Option(
        "password_file",
        "--redis-password-file",
        "INGEST_REDIS_PASSWORD_FILE",
        secret_file,
        None,
        "file holding the Redis password (a systemd credential, a Kubernetes secret volume); "
        "use instead of a password in the URL, whose user name still applies",
    ),
    Option(
        "tls_ca_file",
        "--tls-ca-file",
        "INGEST_TLS_CA_FILE",
        readable_file,
        None,
        "CA certificates (PEM) the Redis server's certificate must chain to (rediss:// only; "
        "default the system's trust store)",
    ),
    Option(
        "tls_cert_file",
        "--tls-cert-file",
        "INGEST_TLS_CERT_FILE",
        readable_file,
        None,
        "client certificate (PEM) for mutual TLS; may hold the key too",
    ),
    Option(
        "tls_key_file",
        "--tls-key-file",
        "INGEST_TLS_KEY_FILE",
        readable_file,
        None,
        "private key (PEM) of --tls-cert-file, when not in that file",
    ),
    Option(
        "tls_key_password_file",
        "--tls-key-password-file",
        "INGEST_TLS_KEY_PASSWORD_FILE",
        secret_file,
        None,
        "file holding the passphrase of an encrypted client key",
    ),
    Option(
        "tls_insecure",
        "--tls-insecure",
        "INGEST_TLS_INSECURE",
        boolean,
        False,
        "do not verify the server's certificate and host name (rediss:// only; logs a WARNING "
        "and shows in /readyz and ingest.stats --json)",
        is_flag=True,
    ),
    # Sentinel's own credentials (the URL's are the data nodes'): see ingest.sentinel_url.
    Option(
        "sentinel_password_file",
        "--sentinel-password-file",
        "INGEST_SENTINEL_PASSWORD_FILE",
        secret_file,
        None,
        "file holding the sentinels' password (their requirepass, or the password of "
        "--sentinel-username); redis+sentinel:// only; default: the sentinels need none",
    ),
    Option(
        "sentinel_username",
        "--sentinel-username",
        "INGEST_SENTINEL_USERNAME",
        text,
        None,
        "ACL user the sentinels know us as (with --sentinel-password-file); redis+sentinel:// only",
    ),
)

STREAM_OPTION = Option("stream", "--stream", "INGEST_STREAM", text, "ingest:events", "stream key")
GROUP_OPTION = Option("group", "--group", "INGEST_GROUP", text, "workers", "consumer group name")

STREAM_OPTIONS: tuple[Option, ...] = (STREAM_OPTION, GROUP_OPTION)
"""The stream and its consumer group: read by the worker and ``python -m workers.dlq``. The
producer reads only :data:`STREAM_OPTION` (admission counts every group on the stream)."""


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """How to reach Redis, and how to prove who we are and who it is.

    Attributes:
        redis_url: Redis URL (default ``redis://localhost:6379/0``); shown only redacted.
        connect_timeout_s: seconds to keep retrying at start before ``RedisUnavailable``.
        socket_timeout_s: socket read timeout, seconds; blocking commands stay below it.
        password_file: the Redis password, read from a file (:class:`SecretFile`); the URL
            must then carry no password (its user name applies).
        tls_ca_file: CA bundle (PEM) for verifying the server; ``None`` uses the system's.
        tls_cert_file, tls_key_file: client certificate and key (PEM) for mutual TLS.
        tls_key_password_file: passphrase of an encrypted client key.
        tls_insecure: do not verify the server's certificate or host name.
        sentinel_password_file: the sentinels' password (``redis+sentinel://`` URLs only).
        sentinel_username: the sentinels' ACL user (needs ``sentinel_password_file``).

    Every password the settings hold (the URL's, the files') is registered with
    :func:`ingest.redaction.register_secret` when the settings are built.

    Raises:
        ConfigError: TLS settings on a URL that is not ``rediss://`` (or
            ``rediss+sentinel://``), a password both in the URL and in a file, a key without a
            certificate, a TLS file given both as a setting and as a URL parameter, or
            sentinel credentials without a Sentinel URL.
    """

    redis_url: str = DEFAULT_REDIS_URL
    connect_timeout_s: float = 10.0
    socket_timeout_s: float = 15.0
    password_file: SecretFile | None = None
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_key_password_file: SecretFile | None = None
    tls_insecure: bool = False
    sentinel_password_file: SecretFile | None = None
    sentinel_username: str | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.redis_url)
        query = query_parameters(self.redis_url)
        for secret in (parts.password, query.get("password"), query.get("ssl_password")):
            if secret:
                register_secret(unquote(secret) if secret is parts.password else secret)
        self._check(parts.scheme, bool(parts.password or query.get("password")), query)

    def _check(self, scheme: str, url_password: bool, query: Mapping[str, str]) -> None:
        def name(dest: str) -> str:
            return label(REDIS_OPTIONS, dest)

        tls_given = [d for d in _TLS_DESTS if getattr(self, d)]
        if tls_given and scheme not in _TLS_SCHEMES:
            raise ConfigError(
                f"{name(tls_given[0])} needs a rediss:// URL ({name('redis_url')} is {scheme}://)"
            )
        sentinel_given = [d for d in _SENTINEL_DESTS if getattr(self, d) is not None]
        if sentinel_given and scheme not in SENTINEL_SCHEMES:
            raise ConfigError(
                f"{name(sentinel_given[0])} needs a redis+sentinel:// URL ({name('redis_url')} "
                f"is {scheme}://)"
            )
        if self.sentinel_username is not None and self.sentinel_password_file is None:
            raise ConfigError(f"{name('sentinel_username')} needs {name('sentinel_password_file')}")
        if self.password_file is not None and url_password:
            raise ConfigError(
                f"{name('password_file')} and a password in {name('redis_url')}: give it once"
            )
        if self.tls_key_file and not self.tls_cert_file:
            raise ConfigError(f"{name('tls_key_file')} needs {name('tls_cert_file')}")
        if self.tls_key_password_file is not None and not self.tls_cert_file:
            raise ConfigError(f"{name('tls_key_password_file')} needs {name('tls_cert_file')}")
        for dest, parameter in _TLS_URL_TWINS.items():
            if getattr(self, dest) and parameter in query:
                raise ConfigError(f"{name(dest)} and the URL parameter {parameter}: give it once")

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> RedisSettings:
        """Build from a :func:`resolve` result (extra keys are ignored)."""
        return cls(**{o.dest: values[o.dest] for o in REDIS_OPTIONS})

    @property
    def safe_url(self) -> str:
        """The URL with any password redacted."""
        return redact_url(self.redis_url)

    @property
    def tls_mode(self) -> str:
        """``verified`` (rediss://, certificate and host name checked), ``insecure``
        (rediss:// with :attr:`tls_insecure`) or ``off`` (redis:// or unix://); the same for
        ``rediss+sentinel://`` and ``redis+sentinel://``."""
        if urlsplit(self.redis_url).scheme not in _TLS_SCHEMES:
            return "off"
        return "insecure" if self.tls_insecure else "verified"

    @property
    def sentinel(self) -> bool:
        """The URL names a primary behind Sentinel (``redis+sentinel://``)."""
        return urlsplit(self.redis_url).scheme in SENTINEL_SCHEMES


_TLS_SCHEMES = ("rediss", "rediss+sentinel")
_SENTINEL_DESTS = ("sentinel_password_file", "sentinel_username")
_TLS_DESTS = ("tls_ca_file", "tls_cert_file", "tls_key_file", "tls_key_password_file",
              "tls_insecure")  # fmt: skip
_TLS_URL_TWINS = {
    "tls_ca_file": "ssl_ca_certs",
    "tls_cert_file": "ssl_certfile",
    "tls_key_file": "ssl_keyfile",
    "tls_key_password_file": "ssl_password",
}


def pick(cls: Callable[..., T], options: Iterable[Option], values: Mapping[str, Any]) -> T:
    """Build ``cls`` from the ``values`` of ``options`` (helper for settings factories)."""
    return cls(**{o.dest: values[o.dest] for o in options})


# ---- logging (read by every CLI that logs; ingest.logs applies them) -------------------------

LOG_FORMATS = ("auto", "json", "text")

LOG_FORMAT_OPTION = Option(
    "log_format",
    "--log-format",
    "INGEST_LOG_FORMAT",
    choice(*LOG_FORMATS),
    "auto",
    "log lines as JSON or readable text; auto: text on a terminal, else JSON",
)


# ---- the producer's input options -------------------------------------------------------------


def field_path(value: str) -> str:
    """Accept a field path (``customer.id``; ``order\\.id`` for a key with a dot), see
    :mod:`ingest.fieldpath`; returns it unchanged."""
    parse_path(text(value))
    return value


def csv_types(value: str) -> str:
    """Accept a ``--csv-types`` spec (``temp=float,n=int``, ``auto``), see
    :mod:`ingest.csvtypes`; returns it unchanged."""
    parse_csv_types(text(value))
    return value


# ---- the producer's options ------------------------------------------------------------------

NO_GROUP_MODES = ("block", "trim")
INPUT_FORMATS = ("csv", "jsonl", "lines")

# fmt: off
PRODUCER_OPTIONS: tuple[Option, ...] = (
    Option("maxlen", "--maxlen", "INGEST_MAXLEN", positive_int, 1_000_000,
           "length cap of the stream; never exceeded", "entries"),
    Option("high_water", "--high-water", "INGEST_HIGH_WATER", positive_int, 800_000,
           "pause producing when the backlog reaches this", "entries"),
    Option("low_water", "--low-water", "INGEST_LOW_WATER", non_negative_int, None,
           "resume producing when the backlog is at or below this (default 80% of high-water)",
           "entries"),
    Option("max_block_s", "--max-block", "INGEST_MAX_BLOCK", non_negative_float, 300.0,
           "longest wait on backpressure before BackpressureTimeout (exit 4)", "s"),
    Option("batch_size", "--batch-size", "INGEST_BATCH_SIZE", positive_int, 500,
           "entries per round trip (one admission call per batch)", "entries"),
    Option("max_event_bytes", "--max-event-bytes", "INGEST_MAX_EVENT_BYTES", positive_int,
           1024 * 1024, "largest payload (JSON, UTF-8) accepted; larger ones are rejected",
           "bytes"),
    Option("no_group", "--no-group", "INGEST_NO_GROUP", choice(*NO_GROUP_MODES), "block",
           "with no consumer group yet: block (every entry counts as backlog, never trim) or "
           "trim (trim the oldest entries freely at the cap)"),
    Option("allow_eviction", "--allow-eviction", "INGEST_ALLOW_EVICTION", boolean, False,
           "start even when maxmemory-policy is allkeys-* (Redis may evict the stream)",
           is_flag=True),
    # CLI-only (python -m ingest.produce)
    Option("input", "--input", None, text, None,
           "input file, or - for stdin (gzip detected from the data)"),
    Option("format", "--format", None, choice(*INPUT_FORMATS), None,
           "input format (default from the extension: .csv; .jsonl/.ndjson/.json as JSON "
           "Lines, one value per line; stdin and other extensions: JSON Lines when the first 5 "
           "non-blank lines look like it (all start with { or [, most parse), else lines)"),
    Option("id_field", "--id-field", None, field_path, None,
           "take each event id from this payload value, as <source>:<value>; a path into "
           "nested objects, e.g. customer.id (customer\\.id for a key with a dot) (default "
           "<source>:<line>:<digest of the record>; for stdin without --source, "
           "stdin:<run id>:<line>:<digest>, unique per run)"),
    Option("csv_types", "--csv-types", None, csv_types, None,
           "type CSV values, e.g. temp=float,count=int,ok=bool, or auto (numbers, "
           "true/false, empty as null); values that do not convert are rejects (default: "
           "every CSV value a string)"),
    Option("source", "--source", None, text, None,
           "source name carried in each entry and prefix of line-numbered ids (default the "
           "input file's absolute path; stdin)"),
    Option("raw_ids", "--raw-ids", None, boolean, False,
           "with --id-field: the field's value is the event id as is (default "
           "<source>:<value>, so two sources never share ids)", is_flag=True),
    Option("encoding", "--encoding", None, text_encoding, "utf-8",
           "text encoding of the input (strict: a line that does not decode is rejected); "
           "ASCII-compatible ones: utf-8, latin-1, cp1252, ..."),
    Option("from_line", "--from-line", None, positive_int, None,
           "skip records that start before this line: resume a run that stopped (its error "
           "message and summary give the line); re-running whole is safe too"),
    Option("type", "--type", None, text, "reading", "event type carried in each entry"),
    Option("synthetic", "--synthetic", None, positive_int, None,
           "generate this many synthetic sensor readings instead of reading --input", "events"),
    Option("rate", "--rate", None, positive_float, None, "cap the send rate", "events/s"),
    Option("rejects", "--rejects", None, text, None,
           "write the rejected records as read to this file (to fix and produce again) and "
           "why, as FILE:line: input:line: reason, to FILE.reasons"),
    Option("log_level", "--log-level", "INGEST_LOG_LEVEL", log_level, "INFO", "log level"),
    LOG_FORMAT_OPTION,
)
# fmt: on

# ---- durable produce (ingest.durable) -------------------------------------------------------

# fmt: off
DURABLE_OPTIONS: tuple[Option, ...] = (
    Option("min_replicas", "--min-replicas", "INGEST_MIN_REPLICAS", non_negative_int, 0,
           "durable produce: a batch counts as produced only once this many replicas "
           "acknowledged it (WAIT; plus the primary's AOF fsync by WAITAOF where the server has "
           "it and runs AOF); else exit 5 naming its lines (0: off)", "replicas"),
    Option("replica_timeout_s", "--replica-timeout", "INGEST_REPLICA_TIMEOUT", positive_float,
           5.0, "with --min-replicas: how long each batch may wait for its replicas", "s"),
)
# fmt: on

PRODUCER_CLI_OPTIONS: tuple[Option, ...] = (
    *REDIS_OPTIONS,
    STREAM_OPTION,
    *PRODUCER_OPTIONS,
    *DURABLE_OPTIONS,
)
"""Everything ``python -m ingest.produce`` reads; no ``--group``: admission does not use one."""


@dataclass(frozen=True, slots=True)
class ProducerSettings:
    """Everything a producer needs; built by :meth:`from_sources` or directly (library use).

    Attributes:
        redis: how to reach Redis.
        stream: stream key (``INGEST_STREAM``, default ``ingest:events``).
        group: not read by the producer: admission counts every group on the stream and the
            largest backlog counts, so neither ``--group`` nor ``INGEST_GROUP`` is an option of
            the producer. Kept so library callers that pass it keep working.
        maxlen: length cap of the stream, entries; XLEN never exceeds it (default 1,000,000).
        high_water: backlog at which producing pauses, entries (default 800,000).
        low_water: backlog at or below which producing resumes, entries (default
            ``high_water * 0.8``, rounded down).
        max_block_s: longest wait on backpressure, seconds, then ``BackpressureTimeout``
            (default 300).
        batch_size: entries per admission call (one round trip), default 500.
        max_event_bytes: largest payload's UTF-8 JSON size, bytes (default 1 MiB).
        no_group: ``"block"`` (default) or ``"trim"``: what the cap does while the stream has
            no consumer group (see :mod:`ingest.admission`).
        allow_eviction: start even under an ``allkeys-*`` maxmemory policy (warns loudly).
        input, format, id_field, raw_ids, csv_types, encoding, from_line, source, type,
            synthetic, rate, rejects, log_level, log_format: CLI only.
        min_replicas: durable produce: replicas that must acknowledge each batch before it
            counts (``WAIT``; 0, the default, is off; :mod:`ingest.durable`).
        replica_timeout_s: how long each batch may wait for them, seconds (default 5).

    Raises:
        ConfigError: ``low_water < high_water <= maxlen`` or ``batch_size <= maxlen`` does not
            hold; the message names the flags, variables and values.
    """

    redis: RedisSettings = RedisSettings()
    stream: str = "ingest:events"
    group: str = "workers"
    maxlen: int = 1_000_000
    high_water: int = 800_000
    low_water: int | None = None
    max_block_s: float = 300.0
    batch_size: int = 500
    max_event_bytes: int = 1024 * 1024
    no_group: str = "block"
    allow_eviction: bool = False
    input: str | None = None
    format: str | None = None
    id_field: str | None = None
    raw_ids: bool = False
    csv_types: str | None = None
    encoding: str = "utf-8"
    from_line: int | None = None
    source: str | None = None
    type: str = "reading"
    synthetic: int | None = None
    rate: float | None = None
    rejects: str | None = None
    log_level: str = "INFO"
    log_format: str = "auto"
    min_replicas: int = 0
    replica_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        self._check()
        if self.min_replicas < 0 or not self.replica_timeout_s > 0:
            raise ConfigError(
                f"{label(DURABLE_OPTIONS, 'min_replicas')} must not be negative and "
                f"{label(DURABLE_OPTIONS, 'replica_timeout_s')} must be above 0"
            )

    @property
    def replica_timeout_ms(self) -> int:
        """``replica_timeout_s`` in ms, as ``WAIT`` takes it (at least 1)."""
        return max(1, round(self.replica_timeout_s * 1000))

    def _check(self) -> None:
        def name(dest: str) -> str:
            return label(PRODUCER_OPTIONS, dest)

        low = self.watermark_low
        if not 0 <= low < self.high_water:
            raise ConfigError(
                f"{name('low_water')} = {low} must be below {name('high_water')} = "
                f"{self.high_water} (and not negative)"
            )
        if self.high_water > self.maxlen:
            raise ConfigError(
                f"{name('high_water')} = {self.high_water} must not be above "
                f"{name('maxlen')} = {self.maxlen}"
            )
        if self.batch_size > self.maxlen:
            raise ConfigError(
                f"{name('batch_size')} = {self.batch_size} must not be above "
                f"{name('maxlen')} = {self.maxlen}: such a batch could never be admitted"
            )
        if self.no_group not in NO_GROUP_MODES:
            raise ConfigError(f"{name('no_group')} = {self.no_group!r}: must be block or trim")
        if self.input is not None and self.synthetic is not None:
            raise ConfigError("--input and --synthetic exclude each other; give one")
        if self.raw_ids and self.id_field is None:
            raise ConfigError("--raw-ids needs --id-field (it says how ids from a field look)")
        if self.csv_types is not None and (
            self.synthetic is not None or self.format not in (None, "csv")
        ):
            raise ConfigError(
                f"--csv-types is for CSV input, not {self.format or '--synthetic'} events"
            )
        if self.from_line is not None and self.synthetic is not None:
            raise ConfigError("--from-line skips lines of an --input; --synthetic has none")

    @property
    def watermark_low(self) -> int:
        """The low-water mark in effect: ``low_water``, or 80% of ``high_water`` when unset."""
        return self.high_water * 4 // 5 if self.low_water is None else self.low_water

    @classmethod
    def from_sources(
        cls, args: argparse.Namespace | Mapping[str, Any] | None, environ: Mapping[str, str]
    ) -> ProducerSettings:
        """Build from parsed CLI ``args`` and ``environ`` (flag beats variable beats default).

        ``args`` holds text values as :func:`add_options` leaves them (or already typed
        values); ``None`` reads only ``environ``.

        Raises:
            ConfigError: a value that does not parse, or an impossible combination.
        """
        values = resolve(PRODUCER_CLI_OPTIONS, args, environ)
        return cls(
            redis=RedisSettings.from_values(values),
            **{o.dest: values[o.dest] for o in (STREAM_OPTION, *PRODUCER_OPTIONS)},
            **{o.dest: values[o.dest] for o in DURABLE_OPTIONS},
        )
