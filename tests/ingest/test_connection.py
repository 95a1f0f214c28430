"""Refused credentials and bad database indexes on a real redis-server: a configuration error
at once (exit 2), never retried as "unreachable"; bad URLs refused before connecting."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
import redis

from ingest import stats
from ingest.connection import RedisRefused, async_client, sync_client, wait_until_reachable
from ingest.errors import ConfigError
from ingest.produce import main
from ingest.settings import RedisSettings
from tests.redis_server import RedisServer

pytestmark = pytest.mark.redis

PASSWORD = "s3cret-pw"  # noqa: S105 (a test password that must never be printed)


@pytest.fixture
def locked(make_redis_server: Callable[..., RedisServer]) -> RedisServer:
    """A private server that needs PASSWORD (default user) and has a user ``app``."""
    server = make_redis_server()
    admin = redis.Redis.from_url(server.url)
    admin.acl_setuser("app", enabled=True, passwords=["+app-pw"], keys="*", commands=["+@all"])
    admin.config_set("requirepass", PASSWORD)
    admin.close()
    return server


def with_auth(server: RedisServer, auth: str, db: int = 0) -> str:
    return f"redis://{auth}127.0.0.1:{server.port}/{db}"


@pytest.mark.parametrize(
    "auth",
    [":wrong@", "", "app:wrong@", "nobody:x@"],
    ids=["wrong-password", "no-password", "wrong-acl-password", "unknown-user"],
)
def test_refused_credentials_fail_at_once_not_after_the_connect_timeout(locked, auth):
    settings = RedisSettings(with_auth(locked, auth), connect_timeout_s=10)
    client = sync_client(settings)
    started = time.monotonic()
    with pytest.raises(RedisRefused, match="refused the credentials") as raised:
        wait_until_reachable(client, settings)
    assert time.monotonic() - started < 2.0
    assert isinstance(raised.value, ConfigError)
    assert "wrong" not in str(raised.value)
    assert f"127.0.0.1:{locked.port}" in str(raised.value)


def test_right_credentials_still_work(locked):
    for auth in (f":{PASSWORD}@", "app:app-pw@"):
        client = sync_client(RedisSettings(with_auth(locked, auth)))
        assert client.ping()
        client.close()


def test_async_client_refuses_too(locked):
    # The worker builds its client with async_client: the same check applies there.
    async def ping() -> None:
        client = async_client(RedisSettings(with_auth(locked, ":wrong@"), connect_timeout_s=10))
        try:
            await client.ping()
        finally:
            await client.aclose()

    started = time.monotonic()
    with pytest.raises(RedisRefused, match="refused the credentials"):
        asyncio.run(ping())
    assert time.monotonic() - started < 2.0


def test_database_index_out_of_range_is_a_clear_configuration_error(redis_server):
    url = redis_server.url.removesuffix("/0") + "/99"
    with pytest.raises(RedisRefused, match="has no database 99"):
        wait_until_reachable(sync_client(RedisSettings(url)), RedisSettings(url))


def test_producer_exits_2_on_refused_credentials_with_the_password_redacted(locked, capsys):
    url = with_auth(locked, ":wrong-pw@")
    code = main(["--synthetic", "3", "--redis-url", url, "--connect-timeout", "10"], {})
    err = capsys.readouterr().err
    assert code == 2
    assert f"Redis at redis://:***@127.0.0.1:{locked.port}/0 refused the credentials" in err
    assert "wrong-pw" not in err


def test_producer_exits_2_on_a_missing_database(redis_server, capsys):
    url = redis_server.url.removesuffix("/0") + "/99"
    assert main(["--synthetic", "3", "--redis-url", url], {}) == 2
    assert "has no database 99" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("redis://127.0.0.1:notaport/0", "the port must be a number"),
        ("redis://127.0.0.1:70000/0", "the port must be a number"),
        ("redis://127.0.0.1:6379/abc", "the database index must be a non-negative integer"),
        ("redis://127.0.0.1:6379/0?db=x", "the database index must be a non-negative integer"),
    ],
)
def test_bad_port_or_database_in_the_url_exits_2_naming_the_flag(url, reason, capsys):
    assert main(["--synthetic", "3", "--redis-url", url], {}) == 2
    err = capsys.readouterr().err
    assert f"--redis-url = {url!r} (--redis-url / INGEST_REDIS_URL): {reason}" in err
    assert main(["--synthetic", "3"], {"INGEST_REDIS_URL": url}) == 2
    assert "INGEST_REDIS_URL" in capsys.readouterr().err


@pytest.mark.slow
def test_worker_cli_exits_2_on_refused_credentials(locked, subprocess_env):
    # The worker shares ingest.connection; its CLI maps a ConfigError to exit 2.
    url = with_auth(locked, ":wrong-pw@")
    argv = [sys.executable, "-m", "workers", "--burst", "--connect-timeout", "10"]
    started = time.monotonic()
    result = subprocess.run(
        [*argv, "--redis-url", url],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert "refused the credentials" in result.stderr
    assert "wrong-pw" not in result.stderr + result.stdout
    assert time.monotonic() - started < 8.0


def test_stats_cli_exits_2_on_refused_credentials(locked, capsys):
    url = with_auth(locked, ":wrong-pw@")
    argv = ["--interval", "0", "--connect-timeout", "10"]
    assert stats.main(argv, {"INGEST_REDIS_URL": url}) == 2
    err = capsys.readouterr().err
    assert "refused the credentials" in err
    assert "wrong-pw" not in err


def test_dlq_cli_exits_2_on_refused_credentials(locked, capsys):
    from workers import dlq  # the dead-letter tool shares ingest.connection too

    url = with_auth(locked, ":wrong-pw@")
    assert dlq.main(["--redis-url", url, "--connect-timeout", "10", "list"], {}) == 2
    err = capsys.readouterr().err
    assert "refused the credentials" in err
    assert "wrong-pw" not in err
