"""Each CLI under its own role user on a server that requires passwords: the producer, a
``--burst`` worker, ``ingest.stats`` and the dead-letter tool run to completion and Redis logs
no denial; a user missing a permission gets one line naming it and the role, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from ingest.acl import role_rules
from ingest.acl_roles import ROLES, TOLERATED
from tests.helpers import error_lines
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]

STREAM = "ingest:events"
ADMIN_PASSWORD = "admin-Pw-1234"  # noqa: S105 (the test server's default user)
ROLE_PASSWORD = "role-Pw-5678"  # noqa: S105 (each role user's, given through a password file)


@pytest.fixture
def acl_server(make_redis_server: Any) -> RedisServer:
    server: RedisServer = make_redis_server()
    # requirepass after start: the fixture's readiness PING is unauthenticated.
    redis.Redis(port=server.port).config_set("requirepass", ADMIN_PASSWORD)
    admin = admin_client(server)
    for role in ROLES:
        rules = role_rules(role, STREAM)
        admin.execute_command("ACL", "SETUSER", f"ingest-{role}", *rules, f">{ROLE_PASSWORD}")  # type: ignore[no-untyped-call]
    admin.close()
    return server


def admin_client(server: RedisServer) -> redis.Redis:
    return redis.Redis(port=server.port, password=ADMIN_PASSWORD, decode_responses=True)


@pytest.fixture
def role_env(subprocess_env: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    secret = tmp_path / "redis-password"
    secret.write_text(ROLE_PASSWORD + "\n")
    secret.chmod(0o600)

    def env(server: RedisServer, user: str, **extra: str) -> dict[str, str]:
        return dict(
            subprocess_env,
            INGEST_REDIS_URL=f"redis://{user}@127.0.0.1:{server.port}/0",
            INGEST_REDIS_PASSWORD_FILE=str(secret),
            INGEST_STREAM=STREAM,
            INGEST_CONNECT_TIMEOUT="5",
            INGEST_LOG_FORMAT="json",
            **extra,
        )

    yield env


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], env=env, capture_output=True, text=True, timeout=90,
        cwd=cwd,
    )  # fmt: skip


def denials(server: RedisServer) -> list[dict[str, Any]]:
    admin = admin_client(server)
    raw: Any = admin.execute_command("ACL", "LOG")  # type: ignore[no-untyped-call]
    admin.close()
    entries = [dict(zip(e[::2], e[1::2], strict=True)) if isinstance(e, list) else e for e in raw]
    tolerated = {" ".join(u.argv[:2]).lower() for u in TOLERATED["producer"]}
    return [
        {"user": e["username"], "object": e["object"], "reason": e["reason"]}
        for e in entries
        if not (e["username"] == "ingest-producer" and f"config {e['object']}" in tolerated)
        and e["object"] != "config|get"
    ]


def test_each_cli_runs_under_its_role_with_no_denial(acl_server, role_env, tmp_path):
    # Given: the library loaded by the operator (a password in the URL works too)
    operator_url = f"redis://ingest-operator:{ROLE_PASSWORD}@127.0.0.1:{acl_server.port}/0"
    env = role_env(acl_server, "ingest-operator")
    del env["INGEST_REDIS_PASSWORD_FILE"]
    loaded = run(["ingest.admission", "load", "--redis-url", operator_url], env, tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    # When: the producer, a burst worker, stats and the dead-letter tool run under their roles
    produced = run(["ingest.produce", "--synthetic", "40"],
                   role_env(acl_server, "ingest-producer"), tmp_path)  # fmt: skip
    worker = run(["workers", "--burst", "--sink", f"sqlite:///{tmp_path / 'sink.db'}"],
                 role_env(acl_server, "ingest-worker"), tmp_path)  # fmt: skip
    stats = run(["ingest.stats", "--json", "--interval", "0"],
                role_env(acl_server, "ingest-observer"), tmp_path)  # fmt: skip
    listed = run(["workers.dlq", "list", "--json"], role_env(acl_server, "ingest-observer"),
                 tmp_path)  # fmt: skip
    purged = run(["workers.dlq", "purge", "--all"], role_env(acl_server, "ingest-operator"),
                 tmp_path)  # fmt: skip
    # Then: each succeeded, the worker took every entry, and Redis refused nothing
    for result in (produced, worker, stats, listed, purged):
        assert result.returncode == 0, (result.args, result.stderr)
    assert json.loads(produced.stdout.splitlines()[-1])["produced"] == 40
    assert json.loads(worker.stdout.splitlines()[-1])["acked"] == 40
    group = json.loads(stats.stdout)["groups"][0]
    assert (group["name"], group["backlog"]) == ("workers", 0)
    assert denials(acl_server) == []


def test_a_producer_without_ping_gets_one_line_naming_it(acl_server, role_env, tmp_path):
    # Given: the README's old producer rule, which lacked +ping
    admin = admin_client(acl_server)
    admin.execute_command("ACL", "SETUSER", "ingest-producer", "-ping")  # type: ignore[no-untyped-call]
    admin.close()

    result = run(["ingest.produce", "--synthetic", "3"], role_env(acl_server, "ingest-producer"),
                 tmp_path)  # fmt: skip

    assert result.returncode == 2, result.stderr
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert "may not run PING" in errors[0]
    assert "ingest-producer" in errors[0]
    assert "--role producer" in errors[0]
    assert "Traceback" not in result.stderr


def test_a_denial_inside_the_admission_function_names_the_command(acl_server, role_env, tmp_path):
    # Given: the library loaded, and a producer user that may not XADD (the Function does)
    admin = admin_client(acl_server)
    from ingest.library import LIBRARY_CODE

    admin.function_load(LIBRARY_CODE, replace=True)
    admin.execute_command("ACL", "SETUSER", "ingest-producer", "-xadd")  # type: ignore[no-untyped-call]
    admin.close()

    result = run(["ingest.produce", "--synthetic", "3"], role_env(acl_server, "ingest-producer"),
                 tmp_path)  # fmt: skip

    assert result.returncode == 2, result.stderr
    assert "may not run XADD" in result.stderr
    assert "inside the Function ingest_admit" in result.stderr
    assert "unreachable" not in result.stderr
    assert "Traceback" not in result.stderr


def test_stats_under_the_producer_role_names_the_observer_role(acl_server, role_env, tmp_path):
    result = run(["ingest.stats", "--json", "--interval", "0"],
                 role_env(acl_server, "ingest-producer"), tmp_path)  # fmt: skip

    assert result.returncode == 2, result.stderr
    assert "observer" in result.stderr
    assert "ACL NOPERM" in result.stderr
    assert "Traceback" not in result.stderr
    assert ROLE_PASSWORD not in result.stderr
