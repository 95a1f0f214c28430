"""``python -m workers.web``: serve the operator's dashboard (uvicorn, one process).

It binds ``--host`` (default 127.0.0.1) and ``--port`` (default 8700; 0 picks a free one),
prints ``dashboard: http://HOST:PORT/`` on stdout once it listens, and stops cleanly on
SIGINT or SIGTERM (exit 0; a second signal stops at once). Without ``--token-file`` or
``--basic-auth-file`` it is read-only, and says so on every page and in its start-up log
line; listening beyond loopback without either is allowed but logged as a WARNING (anyone who
reaches the port can read every entry).

Exit codes: 0 stopped; 2 usage or configuration error (one line on stderr: a bad flag or
variable, an unreadable secret file, Redis refusing the credentials or the TLS handshake, an
address that cannot be bound). Redis being unreachable at start is not an error: the pages
say so until it is back.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from types import FrameType

import uvicorn

from ingest.connection import CONNECTION_ERRORS, sync_client
from ingest.errors import ConfigError
from ingest.logs import configure_logging
from ingest.redaction import redact_text
from ingest.settings import add_options
from workers.http import BoundedH11Protocol
from workers.web.app import build_app
from workers.web.settings import WEB_CLI_OPTIONS, WebSettings

log = logging.getLogger("workers.web")


class _Server(uvicorn.Server):
    """uvicorn's server whose graceful stop on SIGINT or SIGTERM exits 0, as a worker's does
    (uvicorn would raise the signal again once shut down); a second signal stops at once."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every option also reads its ``INGEST_*`` variable)."""
    parser = argparse.ArgumentParser(
        prog="python -m workers.web",
        description="Serve the operator's dashboard: streams, consumer groups and consumers, "
        "dead letters (replay, purge), finding an event, pausing a group.",
        epilog="exit codes: 0 stopped; 2 usage or configuration error",
    )
    add_options(parser, WEB_CLI_OPTIONS)
    return parser


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one).

    Raises:
        OSError: the address cannot be bound.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _check_redis(settings: WebSettings) -> None:
    """Ping once: a refusal (credentials, TLS, not Redis) is a configuration error; an
    unreachable server is only logged (the pages say so until it is back)."""
    client = sync_client(settings.redis)
    try:
        client.ping()
    except CONNECTION_ERRORS as exc:
        log.warning("redis %s unreachable for now: %s", settings.redis.safe_url, exc)
    finally:
        client.close()


def _announce(settings: WebSettings, url: str) -> None:
    mode = "read-only (no --token-file or --basic-auth-file)"
    if settings.credentials is not None:
        mode = f"changes allowed after {settings.credentials.kind} login"
    log.info("dashboard on %s for %s; %s", url, ", ".join(settings.streams), mode)
    if not settings.loopback and settings.read_only:
        log.warning(
            "listening on %s without credentials: anyone who reaches it can read every entry",
            settings.host,
        )
    print(f"dashboard: {url}", flush=True)


def serve(settings: WebSettings) -> int:
    """Serve until SIGINT or SIGTERM; returns the exit code."""
    try:
        sock = listen(settings.host, settings.port)
    except OSError as exc:
        print(f"error: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return 2
    client = sync_client(settings.redis)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(
        build_app(settings, client),
        http=BoundedH11Protocol,
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    _announce(settings, f"http://{shown}:{port}/")
    try:
        _Server(config).run(sockets=[sock])
    finally:
        sock.close()
        client.close()
    return 0


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the dashboard; returns the exit code (0, or 2 for a configuration error)."""
    env = os.environ if environ is None else environ
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    try:
        settings = WebSettings.from_sources(args, env)
        configure_logging(settings.log_level, fmt=settings.log_format, environ=env)
        _check_redis(settings)
    except ConfigError as exc:
        print(f"error: {redact_text(str(exc))}", file=sys.stderr)
        return 2
    return serve(settings)


def run() -> None:
    """Console-script entry point (``ingest-web``)."""
    sys.exit(main())
