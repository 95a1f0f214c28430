"""TLS on a real ``redis-server --tls-port`` with a throwaway CA: verified by default, failures
are TLS errors at once (not "unreachable" after the connect timeout), insecure only when
asked for and then loudly, mutual TLS with a client certificate (and an encrypted key)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest import tls
from ingest.connection import async_client, sync_client, wait_until_reachable
from ingest.errors import ConfigError
from ingest.secretfile import SecretFile
from ingest.settings import RedisSettings
from ingest.tls import TlsError
from tests.helpers import error_lines
from tests.security.tls_server import KEY_PASSPHRASE, Pki, TlsRedisServer, make_pki

CONNECT_TIMEOUT_S = 10.0
FAST_S = 2.0
"""A TLS failure must be reported well within this (the connect timeout is 10 s)."""

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def server(pki: Pki) -> Iterator[TlsRedisServer]:
    s = TlsRedisServer(pki)
    s.start()
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def mutual_server(pki: Pki) -> Iterator[TlsRedisServer]:
    s = TlsRedisServer(pki, mutual=True)
    s.start()
    yield s
    s.cleanup()


def settings(url: str, **kwargs: object) -> RedisSettings:
    return RedisSettings(redis_url=url, connect_timeout_s=CONNECT_TIMEOUT_S, **kwargs)  # type: ignore[arg-type]


def connect_error(s: RedisSettings) -> tuple[BaseException, float]:
    client = sync_client(s)
    started = time.monotonic()
    try:
        wait_until_reachable(client, s)
    except Exception as exc:
        return exc, time.monotonic() - started
    finally:
        client.close()
    raise AssertionError("connected")


def test_verified_connection_works(server, pki):
    s = settings(server.url(), tls_ca_file=str(pki.ca_cert))
    client = sync_client(s)

    wait_until_reachable(client, s)

    assert client.set("k", "v")
    assert s.tls_mode == "verified"
    client.close()


def test_verified_connection_works_with_the_asyncio_client(server, pki):
    async def ping() -> bool:
        client = async_client(settings(server.url(), tls_ca_file=str(pki.ca_cert)))
        try:
            return bool(await client.ping())
        finally:
            await client.aclose()

    assert asyncio.run(ping())


def test_a_certificate_of_another_ca_fails_fast_as_a_tls_error(server, pki):
    exc, elapsed = connect_error(settings(server.url(), tls_ca_file=str(pki.other_ca_cert)))

    assert isinstance(exc, TlsError), repr(exc)
    assert isinstance(exc, ConfigError)
    assert "certificate verify failed" in str(exc)
    assert "--tls-ca-file" in str(exc)
    assert elapsed < FAST_S


def test_the_system_trust_store_does_not_trust_a_private_ca(server):
    exc, elapsed = connect_error(settings(server.url()))

    assert isinstance(exc, TlsError), repr(exc)
    assert elapsed < FAST_S


def test_a_host_name_the_certificate_does_not_list_fails_fast(server, pki):
    # The server's certificate names only "localhost": 127.0.0.1 is not in it.
    exc, elapsed = connect_error(settings(server.url("127.0.0.1"), tls_ca_file=str(pki.ca_cert)))

    assert isinstance(exc, TlsError), repr(exc)
    assert "mismatch" in str(exc)
    assert "certificate lists" in str(exc)
    assert elapsed < FAST_S


def test_insecure_connects_without_verification_and_warns(server, pki, caplog, monkeypatch):
    monkeypatch.setattr(tls, "_warned", type(tls._warned)())
    s = settings(server.url("127.0.0.1"), tls_ca_file=str(pki.other_ca_cert), tls_insecure=True)
    with caplog.at_level(logging.WARNING, logger="ingest.tls"):
        client = sync_client(s)
        wait_until_reachable(client, s)
        client.close()

    assert s.tls_mode == "insecure"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "TLS verification is OFF" in warnings[0].getMessage()


def test_mutual_tls_without_a_client_certificate_fails_fast(mutual_server, pki):
    exc, elapsed = connect_error(settings(mutual_server.url(), tls_ca_file=str(pki.ca_cert)))

    assert isinstance(exc, ConfigError), repr(exc)
    assert elapsed < FAST_S


def test_mutual_tls_with_a_client_certificate_works(mutual_server, pki):
    s = settings(
        mutual_server.url(),
        tls_ca_file=str(pki.ca_cert),
        tls_cert_file=str(pki.client_cert),
        tls_key_file=str(pki.client_key),
    )
    client = sync_client(s)

    wait_until_reachable(client, s)

    assert client.ping()
    client.close()


def test_mutual_tls_with_an_encrypted_key_and_its_passphrase_file(mutual_server, pki, tmp_path):
    passphrase = tmp_path / "key-passphrase"
    passphrase.write_text(KEY_PASSPHRASE + "\n")
    s = settings(
        mutual_server.url(),
        tls_ca_file=str(pki.ca_cert),
        tls_cert_file=str(pki.client_cert),
        tls_key_file=str(pki.client_key_encrypted),
        tls_key_password_file=SecretFile.read(str(passphrase)),
    )
    client = sync_client(s)

    wait_until_reachable(client, s)

    assert client.ping()
    client.close()


def test_a_wrong_key_passphrase_is_a_tls_error(mutual_server, pki, tmp_path):
    passphrase = tmp_path / "key-passphrase"
    passphrase.write_text("not-the-passphrase")
    exc, elapsed = connect_error(
        settings(
            mutual_server.url(),
            tls_ca_file=str(pki.ca_cert),
            tls_cert_file=str(pki.client_cert),
            tls_key_file=str(pki.client_key_encrypted),
            tls_key_password_file=SecretFile.read(str(passphrase)),
        )
    )

    assert isinstance(exc, ConfigError), repr(exc)
    assert "not-the-passphrase" not in str(exc)
    assert elapsed < FAST_S


def run_cli(module: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *module], env=env, capture_output=True, text=True, timeout=60,
        cwd=cwd,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    "module",
    [["ingest.stats"], ["ingest.produce", "--synthetic", "3"], ["workers", "--burst"],
     ["workers.dlq", "list"]],
    ids=lambda m: m[0],
)  # fmt: skip
def test_every_cli_reports_a_wrong_ca_in_one_line_with_exit_2(
    module, server, pki, subprocess_env, tmp_path
):
    env = dict(
        subprocess_env,
        INGEST_REDIS_URL=server.url(),
        INGEST_TLS_CA_FILE=str(pki.other_ca_cert),
        INGEST_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT_S),
        INGEST_LOG_FORMAT="json",
    )
    started = time.monotonic()

    result = run_cli(module, env, tmp_path)

    assert result.returncode == 2, result.stderr
    assert time.monotonic() - started < CONNECT_TIMEOUT_S / 2
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert "TLS with Redis at localhost" in errors[0]
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_url_turning_verification_off_is_refused_naming_the_setting(subprocess_env, tmp_path):
    env = dict(subprocess_env, INGEST_REDIS_URL="rediss://localhost:1/0?ssl_cert_reqs=none")

    result = run_cli(["ingest.stats"], env, tmp_path)

    assert result.returncode == 2
    assert "--tls-insecure" in result.stderr
    assert "Traceback" not in result.stderr
