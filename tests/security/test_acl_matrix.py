"""The ACL roles on a real server: every command a role's CLIs issue is allowed, every
command it must not run is denied (``ACL DRYRUN`` against users made from the generated
rules), and the generated text loads as a ``users.acl`` file and through ``ACL SETUSER``."""

from __future__ import annotations

import shlex
from collections.abc import Iterator

import pytest
import redis

from ingest.acl import escape_glob, main, render, role_rules
from ingest.acl_roles import DENIED, ROLES, TOLERATED, USES, Use
from tests.redis_server import RedisServer

STREAMS = ("ingest:events", "{orders}:events", "odd*stream?[x]")
GROUP = "workers"
PASSWORD = "password"  # noqa: S105 (a test user's; its SHA-256 is in the users.acl below)


@pytest.fixture(scope="module")
def acl_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def admin(acl_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis(port=acl_server.port, decode_responses=True)
    yield client
    client.close()


def make_users(admin: redis.Redis, stream: str) -> dict[str, str]:
    users = {}
    for role in ROLES:
        name = f"t-{role}"
        admin.execute_command("ACL", "SETUSER", name, *role_rules(role, stream, GROUP), ">pw")  # type: ignore[no-untyped-call]
        users[role] = name
    return users


def dryrun(admin: redis.Redis, user: str, use: Use, stream: str) -> str:
    try:
        args = ("ACL", "DRYRUN", user, *use.concrete(stream, GROUP))
        return str(admin.execute_command(*args))  # type: ignore[no-untyped-call]
    except redis.ResponseError as exc:
        return f"error: {exc}"


@pytest.mark.redis
@pytest.mark.parametrize("stream", STREAMS)
@pytest.mark.parametrize("role", ROLES)
def test_every_command_of_the_role_is_allowed(admin, role, stream):
    users = make_users(admin, stream)

    refused = {
        " ".join(use.concrete(stream, GROUP)): (use.by, reply)
        for use in USES[role]
        if (reply := dryrun(admin, users[role], use, stream)) != "OK"
    }

    assert refused == {}


@pytest.mark.redis
@pytest.mark.parametrize("stream", STREAMS)
@pytest.mark.parametrize("role", ROLES)
def test_dangerous_commands_are_denied(admin, role, stream):
    users = make_users(admin, stream)

    allowed = [
        " ".join(use.concrete(stream, GROUP))
        for use in (*DENIED[role], *TOLERATED.get(role, ()))
        if dryrun(admin, users[role], use, stream) == "OK"
    ]

    assert allowed == []


@pytest.mark.redis
def test_the_worker_cannot_touch_another_groups_keys(admin):
    users = make_users(admin, "ingest:events")
    other = Use(("HINCRBY", "{ingest:events}:attempts:other", "0-1", "1"), "another group")
    alive = Use(("SET", "{ingest:events}:alive:other:c1", "x"), "another group")

    replies = [dryrun(admin, users["worker"], use, "ingest:events") for use in (other, alive)]

    assert all(reply != "OK" for reply in replies), replies


def test_glob_characters_in_names_are_escaped():
    assert escape_glob("a*b?c[d]\\e") == "a\\*b\\?c\\[d\\]\\\\e"
    rules = role_rules("observer", "odd*stream")
    assert "%R~odd\\*stream" in rules


def test_names_an_acl_rule_cannot_hold_are_refused(capsys):
    assert main(["--stream", "has space"]) == 2
    assert main(["--stream", "ok", "--group", "g(1)"]) == 2
    assert "cannot hold" in capsys.readouterr().err


@pytest.mark.redis
def test_the_printed_acl_file_loads_and_setuser_lines_paste(tmp_path, make_redis_server, capsys):
    # Given: the printed users.acl text, with a password hash added to each line
    assert main(["--stream", "ingest:events"]) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    hashed = "#" + "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"  # password
    (tmp_path / "users.acl").write_text("".join(f"{line} {hashed}\n" for line in lines))
    assert "it can still" in out.err
    # When: a server starts with it
    server = make_redis_server(extra=["--aclfile", str(tmp_path / "users.acl")])
    client = redis.Redis(port=server.port, username="ingest-observer", password=PASSWORD)
    # Then: the users exist with their rules
    assert client.ping()
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.xadd("ingest:events", {"f": "v"})
    client.close()
    # And: the ACL SETUSER form pastes into redis-cli (split as it splits) and keeps passwords
    setuser = render(["worker"], "ingest:events", GROUP, "ingest-", "setuser")[0]
    root = redis.Redis(port=server.port, decode_responses=True)
    assert root.execute_command(*shlex.split(setuser)) == "OK"  # type: ignore[no-untyped-call]
    worker = redis.Redis(port=server.port, username="ingest-worker", password=PASSWORD)
    assert worker.ping()
    worker.close()
    root.close()
