"""``redis+sentinel://`` URLs: the sentinels, the service and the database (standard library).

The form (the one ``--redis-url`` / ``INGEST_REDIS_URL`` takes for a primary behind Sentinel)::

    redis+sentinel://[user[:password]@]host[:port][,host[:port]...]/<service>[/<db>][?query]
    rediss+sentinel://...    the same over TLS, to the sentinels and to the data nodes

* ``host[:port]``: every sentinel worth asking (one is enough to start; list them all, so that
  one being down does not matter); the port defaults to 26379, Sentinel's. IPv6 addresses go
  in brackets (``[::1]:26379``).
* ``<service>``: the name the sentinels monitor the primary under (``sentinel monitor
  <service> ...``); required.
* ``<db>``: the database index on the data nodes (default 0; or ``?db=N``, not both).
* ``user:password``: the data nodes' credentials, as in a ``redis://`` URL. The sentinels get
  their own (``--sentinel-password-file``, ``--sentinel-username``): Sentinel has its own
  ``requirepass`` and ACL users, and sending the data nodes' password to a sentinel that has
  none fails the handshake (the choice of go-redis' ``FailoverOptions`` and Lettuce too).
* ``query``: the parameters a ``redis://`` URL accepts (:mod:`ingest.redis_url`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

SCHEMES = ("redis+sentinel", "rediss+sentinel")
DEFAULT_PORT = 26379
FORM = "redis+sentinel://[user:password@]host[:port][,host[:port]...]/<service>[/<db>]"


@dataclass(frozen=True, slots=True)
class SentinelAddress:
    """What a ``redis+sentinel://`` URL names.

    Attributes:
        sentinels: ``(host, port)`` of each sentinel, in the URL's order.
        service: the monitored primary's name.
        db: the database index on the data nodes.
        tls: ``rediss+sentinel://``: TLS to the sentinels and the data nodes.
    """

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    tls: bool

    @property
    def sentinel_list(self) -> str:
        """``host:port,host:port`` (no credentials), for messages."""
        return ",".join(f"{host}:{port}" for host, port in self.sentinels)


def is_sentinel_url(url: str) -> bool:
    """True for a ``redis+sentinel://`` or ``rediss+sentinel://`` URL."""
    return urlsplit(url).scheme in SCHEMES


def _sentinel(text: str) -> tuple[str, int]:
    if not text:
        raise ValueError(f"a sentinel address is empty (the form is {FORM})")
    parts = urlsplit(f"//{text}")
    try:
        port = parts.port
    except ValueError:
        port = 0
    host = parts.hostname
    if not host or port == 0 or text.endswith(":"):
        raise ValueError(f"sentinel {text!r}: give host or host:port with a port from 1 to 65535")
    return host, port or DEFAULT_PORT


def parse_sentinel_url(url: str) -> SentinelAddress:
    """The sentinels, service, database and TLS mode of ``url``.

    Raises:
        ValueError: not such a URL, no sentinel, a bad port, no service, or a bad database
            index; the message says the form. Never quotes the password.
    """
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"not a Sentinel URL (the form is {FORM})")
    hosts = parts.netloc.rpartition("@")[2]
    sentinels = tuple(_sentinel(item) for item in hosts.split(","))
    segments = [unquote(s) for s in parts.path.split("/")[1:]]
    if not segments or not segments[0]:
        raise ValueError(f"the service name is missing (the form is {FORM})")
    if len(segments) > 2 or (len(segments) == 2 and not segments[1]):
        raise ValueError(f"the path must be /<service> or /<service>/<db> (the form is {FORM})")
    db_text = segments[1] if len(segments) == 2 else ""
    query_db = [v for k, v in _query(parts.query) if k == "db"]
    if db_text and query_db:
        raise ValueError("give the database index once: in the path or as ?db=, not both")
    db_text = db_text or (query_db[0] if query_db else "0")
    if not (db_text.isascii() and db_text.isdigit()):
        raise ValueError(f"the database index must be a non-negative integer, not {db_text!r}")
    return SentinelAddress(sentinels, segments[0], int(db_text), parts.scheme == SCHEMES[1])


def _query(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def data_node_url(url: str) -> str:
    """A ``redis://`` (or ``rediss://``) URL carrying ``url``'s credentials, database and query
    parameters for the data nodes, with the placeholder host ``sentinel-managed``: redis-py's
    ``parse_url`` reads the connection keywords from it, and the host it names is replaced by
    the primary each connection finds through the sentinels.

    Raises:
        ValueError: as :func:`parse_sentinel_url`.
    """
    address = parse_sentinel_url(url)
    parts = urlsplit(url)
    userinfo, at, _hosts = parts.netloc.rpartition("@")
    scheme = "rediss" if address.tls else "redis"
    # The raw pairs, still percent-encoded as given, without the database index.
    query = "&".join(p for p in parts.query.split("&") if p and p.split("=", 1)[0] != "db")
    tail = f"?{query}" if query else ""
    return f"{scheme}://{userinfo}{at}sentinel-managed/{address.db}{tail}"
