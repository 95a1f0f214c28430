"""``redis+sentinel://`` URLs and the Sentinel settings (pure: no Redis)."""

from __future__ import annotations

import pytest

from ingest.errors import ConfigError
from ingest.secretfile import SecretFile
from ingest.sentinel_url import SentinelAddress, data_node_url, parse_sentinel_url
from ingest.settings import REDIS_OPTIONS, ProducerSettings, RedisSettings, resolve


def test_a_sentinel_url_names_the_sentinels_the_service_and_the_database():
    found = parse_sentinel_url("redis+sentinel://app:pw@h1:5000,h2,[::1]:26380/ingest/3")
    assert found == SentinelAddress(
        (("h1", 5000), ("h2", 26379), ("::1", 26380)), "ingest", 3, tls=False
    )
    assert parse_sentinel_url("rediss+sentinel://h1/ingest?db=2").db == 2
    assert parse_sentinel_url("rediss+sentinel://h1/ingest").tls


def test_the_data_nodes_get_the_urls_credentials_database_and_parameters():
    url = "redis+sentinel://app:p%40ss@h1,h2/ingest/4?client_name=producer"
    assert data_node_url(url) == "redis://app:p%40ss@sentinel-managed/4?client_name=producer"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+sentinel://h1", "service name is missing"),
        ("redis+sentinel://h1/", "service name is missing"),
        ("redis+sentinel://h1:0/ingest", "port from 1 to 65535"),
        ("redis+sentinel://h1:x/ingest", "port from 1 to 65535"),
        ("redis+sentinel://h1,,h2/ingest", "sentinel address is empty"),
        ("redis+sentinel://h1/ingest/x", "non-negative integer"),
        ("redis+sentinel://h1/ingest/1/2", "/<service> or /<service>/<db>"),
        ("redis+sentinel://h1/ingest/1?db=1", "not both"),
        ("redis+sentinel://h1/ingest?socket_timeout=1", "--socket-timeout"),
        ("redis+sentinel://h1/ingest?ssl_ca_certs=x", "needs a rediss:// URL"),
    ],
)
def test_a_bad_sentinel_url_is_one_line_naming_the_setting(url, says):
    with pytest.raises(ConfigError) as caught:
        resolve(REDIS_OPTIONS, {"redis_url": url}, {})
    message = str(caught.value)
    assert says in message
    assert "--redis-url" in message
    assert "\n" not in message


def test_the_sentinel_password_is_redacted_in_errors():
    with pytest.raises(ConfigError) as caught:
        resolve(REDIS_OPTIONS, {"redis_url": "redis+sentinel://u:hunter22@h1:0/ingest"}, {})
    assert "hunter22" not in str(caught.value)


def test_sentinel_settings_read_from_the_environment(tmp_path):
    secret = tmp_path / "sentinel-password"
    secret.write_text("s3ntinel-secret\n")
    values = resolve(
        REDIS_OPTIONS,
        None,
        {
            "INGEST_REDIS_URL": "rediss+sentinel://h1,h2/ingest",
            "INGEST_SENTINEL_PASSWORD_FILE": str(secret),
            "INGEST_SENTINEL_USERNAME": "watcher",
            "INGEST_TLS_INSECURE": "1",
        },
    )
    settings = RedisSettings.from_values(values)
    assert settings.sentinel
    assert settings.tls_mode == "insecure"
    assert settings.sentinel_password_file is not None
    assert settings.sentinel_password_file.value == "s3ntinel-secret"
    assert settings.sentinel_username == "watcher"


def test_sentinel_credentials_without_a_sentinel_url_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="needs a redis\\+sentinel:// URL"):
        RedisSettings(
            redis_url="redis://h1:6379/0", sentinel_password_file=SecretFile("f", "x" * 8)
        )
    with pytest.raises(ConfigError, match=r"--sentinel-username .* needs --sentinel-password"):
        RedisSettings(redis_url="redis+sentinel://h1/ingest", sentinel_username="u")


def test_tls_settings_need_the_tls_form_of_the_sentinel_url(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    with pytest.raises(ConfigError, match="needs a rediss:// URL"):
        RedisSettings(redis_url="redis+sentinel://h1/ingest", tls_ca_file=str(ca))
    assert RedisSettings(redis_url="rediss+sentinel://h1/ingest", tls_ca_file=str(ca)).tls_mode == (
        "verified"
    )


def test_durable_produce_settings():
    settings = ProducerSettings.from_sources({"min_replicas": "2", "replica_timeout_s": "0.25"}, {})
    assert (settings.min_replicas, settings.replica_timeout_ms) == (2, 250)
    env = ProducerSettings.from_sources(None, {"INGEST_MIN_REPLICAS": "1"})
    assert (env.min_replicas, env.replica_timeout_s) == (1, 5.0)
    with pytest.raises(ConfigError, match="--min-replicas"):
        ProducerSettings.from_sources({"min_replicas": "-1"}, {})
    with pytest.raises(ConfigError, match="--replica-timeout"):
        ProducerSettings.from_sources({"replica_timeout_s": "0"}, {})
