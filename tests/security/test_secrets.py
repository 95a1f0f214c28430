"""Secrets stay secret (pure): URL shapes and registered values are masked, password files are
read as systemd and Kubernetes write them, and settings refuse ambiguous or unsafe input."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from ingest import redaction
from ingest.errors import ConfigError
from ingest.logs import configure_logging
from ingest.redis_url import check_query
from ingest.secretfile import SecretFile
from ingest.settings import REDIS_OPTIONS, RedisSettings, redact_text, redact_url, resolve


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    redaction.clear_secrets()
    yield
    redaction.clear_secrets()


def test_every_secret_url_parameter_is_masked():
    url = "rediss://u:pw1234@h:6380/0?ssl_password=keypass99&ssl_certfile=/c.pem&password=qp5678"

    shown = redact_url(url)

    assert shown == "rediss://u:***@h:6380/0?ssl_password=***&ssl_certfile=/c.pem&password=***"
    assert redact_text(f"error: cannot connect to {url} (timeout)").count("***") == 3


def test_registered_secrets_are_masked_in_any_text():
    redaction.register_secret("s3cr3t-value")

    text = redact_text("handler failed: auth with 's3cr3t-value' refused; again s3cr3t-value")

    assert "s3cr3t-value" not in text
    assert text.count("***") == 2


def test_short_values_are_not_registered():
    redaction.register_secret("abc")

    assert redaction.registered_secret_count() == 0
    assert redact_text("abc abc") == "abc abc"


def test_a_password_file_is_read_without_its_line_break_and_registered(tmp_path):
    path = tmp_path / "redis-password"
    path.write_text("pw-from-file-42\n")

    secret = SecretFile.read(str(path))

    assert secret.value == "pw-from-file-42"
    assert "pw-from-file-42" not in repr(secret)
    assert redact_text("AUTH pw-from-file-42") == "AUTH ***"


@pytest.mark.parametrize(("content", "reason"), [(b"", "is empty"), (b"\xff\xfe", "not UTF-8")])
def test_bad_password_files_are_refused_naming_the_reason(tmp_path, content, reason):
    path = tmp_path / "pw"
    path.write_bytes(content)

    with pytest.raises(ValueError, match=reason):
        SecretFile.read(str(path))
    with pytest.raises(ValueError, match="cannot read"):
        SecretFile.read(str(tmp_path / "missing"))


def test_settings_register_the_url_password_and_refuse_ambiguity(tmp_path):
    path = tmp_path / "pw"
    path.write_text("file-pw-999")

    RedisSettings(redis_url="redis://u:url-pw-888@h:6379/0")
    assert redact_text("url-pw-888") == "***"
    with pytest.raises(ConfigError, match="give it once"):
        RedisSettings(redis_url="redis://u:x-pw-777@h/0", password_file=SecretFile.read(str(path)))
    with pytest.raises(ConfigError, match="needs a rediss:// URL"):
        RedisSettings(redis_url="redis://h/0", tls_insecure=True)
    with pytest.raises(ConfigError, match="needs --tls-cert-file"):
        RedisSettings(redis_url="rediss://h/0", tls_key_file=str(path))


def test_tls_mode_says_how_the_connection_is_protected():
    assert RedisSettings(redis_url="redis://h/0").tls_mode == "off"
    assert RedisSettings(redis_url="rediss://h/0").tls_mode == "verified"
    assert RedisSettings(redis_url="rediss://h/0", tls_insecure=True).tls_mode == "insecure"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("socket_timeout=abc", "--socket-timeout"),
        ("ssl_check_hostname=false", "--tls-insecure"),
        ("ssl_cert_reqs=optional", "--tls-insecure"),
        ("foo=1", "unknown URL parameter 'foo'"),
        ("protocol=4", "must be 2 or 3"),
    ],
)
def test_url_parameters_that_would_undo_a_setting_are_refused(query, message):
    with pytest.raises(ValueError, match=message):
        check_query(f"rediss://h:6380/0?{query}")


def test_a_tls_parameter_on_a_plain_url_is_refused():
    with pytest.raises(ValueError, match="needs a rediss:// URL"):
        check_query("redis://h/0?ssl_ca_certs=/ca.pem")


def test_resolve_reads_the_password_file_setting(tmp_path):
    path = tmp_path / "pw"
    path.write_text("resolved-pw-1\n")

    values = resolve(REDIS_OPTIONS, None, {"INGEST_REDIS_PASSWORD_FILE": str(path)})

    assert RedisSettings.from_values(values).password_file == SecretFile(str(path), "resolved-pw-1")


def test_the_log_formatter_masks_registered_secrets():
    redaction.register_secret("log-secret-314")
    stream = io.StringIO()
    configure_logging("INFO", fmt="json", stream=stream, environ={})

    logging.getLogger("test.secrets").warning("connect failed with %s", "log-secret-314")

    assert "log-secret-314" not in stream.getvalue()
    assert "***" in stream.getvalue()
