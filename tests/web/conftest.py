"""Fixtures for the dashboard's route tests: the app on the session's real redis-server (emptied
per test), driven through Starlette's TestClient; a token login; CSRF tokens read off a page."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from ingest.connection import sync_client
from ingest.settings import RedisSettings
from workers.web.app import build_app
from workers.web.settings import Credentials, WebSettings

STREAM = "ingest:events"
DEAD = "{ingest:events}:dead"
GROUP = "workers"
TOKEN = "s3cret-token"  # noqa: S105 (the test dashboard's token)

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token in a page's forms."""
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


@dataclass
class Web:
    """A dashboard under test: its TestClient and the Redis client it uses."""

    http: TestClient
    settings: WebSettings
    closers: list[Callable[[], None]] = field(default_factory=list)

    def csrf(self, url: str = "/streams") -> str:
        page = self.http.get(url)
        assert page.status_code == 200, page.text
        return csrf_of(page.text)

    def login(self) -> None:
        page = self.http.get("/login")
        reply = self.http.post(
            "/login", data={"csrf": csrf_of(page.text), "token": TOKEN}, follow_redirects=False
        )
        assert reply.status_code == 303, reply.text

    def post(self, url: str, data: Mapping[str, Any] | list[tuple[str, str]], **kw: Any) -> Any:
        """POST a form (pairs may repeat a name: ``[("id", a), ("id", b)]``), no redirects."""
        if not isinstance(data, Mapping):
            grouped: dict[str, list[str]] = {}
            for name, value in data:
                grouped.setdefault(name, []).append(value)
            data = grouped
        return self.http.post(url, data=data, follow_redirects=False, **kw)


def settings_for(url: str, credentials: str | None = "token", **kw: Any) -> WebSettings:
    creds = None
    if credentials == "token":
        creds = Credentials("token", "operator", TOKEN)
    elif credentials == "basic":
        creds = Credentials("basic", "ops", TOKEN)
    return WebSettings(redis=RedisSettings(redis_url=url), credentials=creds, **kw)


@pytest.fixture
def make_web(redis_url: str) -> Iterator[Callable[..., Web]]:
    """Factory: ``make_web(credentials="token"|"basic"|None, url=..., **settings)``; a token
    dashboard is logged in unless ``login=False``."""
    made: list[Web] = []

    def make(
        credentials: str | None = "token", url: str | None = None, login: bool = True, **kw: Any
    ) -> Web:
        settings = settings_for(url or redis_url, credentials, **kw)
        client = sync_client(settings.redis)
        http = TestClient(build_app(settings, client))
        web = Web(http, settings, [client.close, http.close])
        made.append(web)
        if credentials == "token" and login:
            web.login()
        if credentials == "basic":
            http.auth = ("ops", TOKEN)
        return web

    yield make
    for web in made:
        for close in web.closers:
            close()


@pytest.fixture
def web(make_web: Callable[..., Web]) -> Web:
    """A dashboard with a token, logged in."""
    return make_web()


def add_events(client: redis.Redis, count: int, prefix: str = "e") -> list[str]:
    """Append ``count`` events (``event_id`` ``<prefix><n>``); returns their entry IDs."""
    return [
        str(client.xadd(STREAM, {"v": "1", "event_id": f"{prefix}{n}", "type": "t", "data": "{}"}))
        for n in range(count)
    ]


def add_dead(client: redis.Redis, event_id: str, reason: str = "permanent", **extra: Any) -> str:
    """Append a dead letter as the worker writes it; returns its entry ID."""
    fields: dict[Any, Any] = {
        "v": "1",
        "event_id": event_id,
        "type": "t",
        "data": "{}",
        "dead_reason": reason,
        "dead_error_type": "ValueError",
        "dead_error": "bad value",
        "dead_entry_id": "1-0",
        "dead_stream": STREAM,
        "dead_group": GROUP,
        "dead_consumer": "c1",
        "dead_delivery_count": "1",
        "dead_failed_attempts": "1",
        "dead_at_ms": "1",
    }
    fields.update(extra)
    return str(client.xadd(DEAD, fields))


def dead_ids(client: redis.Redis) -> list[str]:
    return [str(entry_id) for entry_id, _ in client.xrange(DEAD)]  # type: ignore[union-attr]
