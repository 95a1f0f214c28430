"""Under the ACL roles of ``python -m ingest.acl``: the observer user can read every page and
is refused every change with the one-line permission message (403, never a 500); the
operator user can replay, purge, pause and resume."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from ingest.acl import role_rules
from ingest.connection import sync_client
from ingest.pause import pause_key
from ingest.workerinfo import worker_info_fields, worker_info_key
from tests.redis_server import RedisServer
from tests.web.conftest import DEAD, GROUP, STREAM, Web, add_dead, add_events, dead_ids
from workers.web.app import build_app
from workers.web.settings import WebSettings

pytestmark = pytest.mark.redis

PASSWORD = "role-pw"  # noqa: S105 (the test users')


@pytest.fixture
def acl_server(make_redis_server: Callable[..., RedisServer]) -> RedisServer:
    server = make_redis_server()
    admin = redis.Redis(port=server.port)
    for role in ("observer", "operator"):
        rules = role_rules(role, STREAM, GROUP)
        admin.execute_command("ACL", "SETUSER", f"ingest-{role}", *rules, f">{PASSWORD}")  # type: ignore[no-untyped-call]
    admin.close()
    return server


@pytest.fixture
def data(acl_server: RedisServer) -> dict[str, Any]:
    admin = redis.Redis(port=acl_server.port, decode_responses=True)
    admin.xgroup_create(STREAM, GROUP, "0", mkstream=True)
    ids = add_events(admin, 3)
    admin.xreadgroup(GROUP, "c1", {STREAM: ">"}, count=2)
    admin.set("{ingest:events}:alive:workers:c1", "node-a:7", ex=60)
    info = worker_info_fields("pkg:handle", "node-a", 7, 1, "0.1.0")
    admin.hset(worker_info_key(STREAM, GROUP, "c1"), mapping=info)  # type: ignore[arg-type]
    dead = add_dead(admin, "x1")
    return {"admin": admin, "ids": ids, "dead": dead}


def _url(server: RedisServer, role: str) -> str:
    return f"redis://ingest-{role}:{PASSWORD}@127.0.0.1:{server.port}/0"


def _pages(web: Web, dead: str) -> dict[str, int]:
    urls = [
        "/streams",
        f"/groups?stream={STREAM}",
        f"/pending?stream={STREAM}&group={GROUP}",
        f"/dead?stream={STREAM}",
        f"/dead/entry?stream={STREAM}&id={dead}",
        f"/find?stream={STREAM}&event_id=e1",
    ]
    return {url: web.http.get(url).status_code for url in urls}


def test_the_observer_reads_every_page(make_web, acl_server, data):
    web = make_web(url=_url(acl_server, "observer"))

    statuses = _pages(web, data["dead"])
    groups = web.http.get(f"/groups?stream={STREAM}").text

    assert set(statuses.values()) == {200}, statuses
    assert 'class="is-live">live<' in groups and "pkg:handle" in groups
    assert "error" not in web.http.get("/streams").text.split("<main>")[1]


def test_the_observer_is_refused_changes_with_one_line(make_web, acl_server, data):
    web = make_web(url=_url(acl_server, "observer"))
    csrf = web.csrf()

    paused = web.post("/pause", {"csrf": csrf, "stream": STREAM, "group": GROUP})
    purged = web.post(
        "/dead/purge",
        {"csrf": csrf, "stream": STREAM, "scope": "selected", "id": data["dead"], "confirm": "yes"},
    )
    replayed = web.post(
        "/dead/replay", {"csrf": csrf, "stream": STREAM, "scope": "selected", "id": data["dead"]}
    )

    for reply in (paused, purged, replayed):
        assert reply.status_code == 403, reply.text
        message = reply.text.split('id="message">')[1].split("</p>")[0]
        assert message.startswith("Redis user &#39;ingest-observer&#39; may not run "), message
        assert "the operator role grants it" in message or "role grants it" in message
    assert data["admin"].exists(pause_key(STREAM, GROUP)) == 0
    assert dead_ids(data["admin"]) == [data["dead"]]


def test_the_operator_replays_purges_pauses_and_resumes(make_web, acl_server, data):
    web = make_web(url=_url(acl_server, "operator"))
    admin = data["admin"]
    second = add_dead(admin, "x2")

    statuses = _pages(web, data["dead"])
    replayed = web.post(
        "/dead/replay",
        {"csrf": web.csrf(), "stream": STREAM, "scope": "selected", "id": data["dead"]},
    )
    purged = web.post(
        "/dead/purge",
        {"csrf": web.csrf(), "stream": STREAM, "scope": "selected", "id": second, "confirm": "yes"},
    )
    paused = web.post("/pause", {"csrf": web.csrf(), "stream": STREAM, "group": GROUP})
    was_paused = admin.exists(pause_key(STREAM, GROUP))
    resumed = web.post("/resume", {"csrf": web.csrf(), "stream": STREAM, "group": GROUP})

    assert set(statuses.values()) == {200}, statuses
    assert "Replayed 1 dead letter" in replayed.text
    assert "deleted 1 dead letter" in purged.text
    assert (paused.status_code, was_paused, resumed.status_code) == (303, 1, 303)
    assert admin.exists(pause_key(STREAM, GROUP)) == admin.xlen(DEAD) == 0
    assert admin.xrange(STREAM)[-1][1]["event_id"] == "x1"


def test_the_redis_password_file_and_user_apply(acl_server, data, tmp_path):
    # Given the observer's password in a file and its user in the URL, as deployments do
    secret = tmp_path / "redis-password"
    secret.write_text(PASSWORD + "\n")
    env = {
        "INGEST_REDIS_URL": f"redis://ingest-observer@127.0.0.1:{acl_server.port}/0",
        "INGEST_REDIS_PASSWORD_FILE": str(secret),
    }
    settings = WebSettings.from_sources(None, env)
    client = sync_client(settings.redis)

    with TestClient(build_app(settings, client)) as http:
        page = http.get(f"/groups?stream={STREAM}")

    client.close()
    assert page.status_code == 200
    assert 'data-consumer="c1"' in page.text
