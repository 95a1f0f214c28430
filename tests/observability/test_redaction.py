"""No Redis password in any CLI output: --help, errors when Redis is unreachable or refuses the
credentials, a bad URL; as ``user:password@`` or as a ``?password=`` query parameter."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.redis_server import RedisServer

PASSWORD = "Sw0rdfish-pw"  # noqa: S105 (a test password that must never be printed)
URL = f"redis://app:{PASSWORD}@127.0.0.1:1/0"

CLIS = (
    ["ingest.produce", "--synthetic", "5"],
    ["workers"],
    ["ingest.stats"],
    ["workers.dlq", "list"],
)


QUERY_PASSWORD = "WrongPW99"  # noqa: S105 (sent as ?password=, must never be printed)
RIGHT_PASSWORD = "RightPW42"  # noqa: S105 (the server's; the CLIs are given the wrong one)


def run(
    module_args: list[str], env: dict[str, str], *extra: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *module_args, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=cwd,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], secret: str) -> None:
    assert secret not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    # JSON logs (stderr is not a terminal) make the worker's error a JSON record too
    text = result.stderr
    if text.startswith("{"):
        [line] = text.splitlines()
        assert json.loads(line)["level"] == "ERROR", text
    else:
        assert text.startswith("error: "), text


@pytest.fixture
def env(subprocess_env: dict[str, str]) -> dict[str, str]:
    return dict(subprocess_env, INGEST_REDIS_URL=URL, INGEST_CONNECT_TIMEOUT="0.3")


@pytest.mark.parametrize("cli", CLIS, ids=lambda c: c[0])
def test_help_shows_no_password(cli, env):
    result = run(cli[:1], env, "--help")
    assert result.returncode == 0
    assert "--redis-url" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize("cli", CLIS, ids=lambda c: c[0])
def test_unreachable_redis_exits_3_without_the_password(cli, env):
    result = run(cli, env)
    assert result.returncode == 3, result.stderr
    assert "app:***@127.0.0.1:1" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize("cli", CLIS, ids=lambda c: c[0])
def test_unreachable_redis_with_a_query_password_exits_3_without_it(cli, subprocess_env, tmp_path):
    url = f"redis://127.0.0.1:1/0?password={QUERY_PASSWORD}"
    env = dict(subprocess_env, INGEST_REDIS_URL=url, INGEST_CONNECT_TIMEOUT="0.3")
    result = run(cli, env, cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "redis://127.0.0.1:1/0?password=***" in result.stderr
    assert_one_line_error(result, QUERY_PASSWORD)


@pytest.fixture(scope="module")
def locked_server() -> Iterator[RedisServer]:
    """A private server that requires ``RIGHT_PASSWORD`` (set after start: PING needs none)."""
    server = RedisServer()
    server.start()
    with redis.Redis.from_url(server.url) as admin:
        admin.config_set("requirepass", RIGHT_PASSWORD)
    yield server
    server.cleanup()


@pytest.mark.parametrize("cli", CLIS, ids=lambda c: c[0])
def test_refused_query_password_exits_2_without_it(cli, locked_server, subprocess_env, tmp_path):
    url = f"redis://127.0.0.1:{locked_server.port}/0?password={QUERY_PASSWORD}"
    env = dict(subprocess_env, INGEST_REDIS_URL=url, INGEST_CONNECT_TIMEOUT="5")
    result = run([*cli, "--burst"] if cli == ["workers"] else cli, env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "refused the credentials" in result.stderr
    assert f"127.0.0.1:{locked_server.port}/0?password=***" in result.stderr
    assert_one_line_error(result, QUERY_PASSWORD)


@pytest.mark.parametrize("port", ["abc", "99999"])
@pytest.mark.parametrize("cli", CLIS, ids=lambda c: c[0])
def test_bad_port_in_a_url_with_a_password_exits_2_naming_the_variable(
    cli, port, subprocess_env, tmp_path
):
    env = dict(subprocess_env, INGEST_REDIS_URL=f"redis://:{PASSWORD}@127.0.0.1:{port}/0")
    result = run(cli, env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"INGEST_REDIS_URL = 'redis://:***@127.0.0.1:{port}/0'" in result.stderr
    assert "--redis-url / INGEST_REDIS_URL" in result.stderr
    assert "port must be a number" in result.stderr
    assert_one_line_error(result, PASSWORD)
