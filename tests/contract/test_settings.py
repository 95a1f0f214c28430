from __future__ import annotations

import argparse

import pytest

from ingest.errors import ConfigError
from ingest.settings import (
    REDIS_OPTIONS,
    STREAM_OPTIONS,
    RedisSettings,
    add_options,
    redact_url,
    resolve,
)


def test_flag_beats_variable_beats_default() -> None:
    options = REDIS_OPTIONS + STREAM_OPTIONS
    values = resolve(
        options, {"stream": "from-flag"}, {"INGEST_STREAM": "env", "INGEST_GROUP": "g"}
    )
    assert values["stream"] == "from-flag"
    assert values["group"] == "g"
    assert values["redis_url"] == "redis://localhost:6379/0"


def test_bad_variable_is_named_with_its_value() -> None:
    with pytest.raises(ConfigError, match=r"INGEST_CONNECT_TIMEOUT = '-1'"):
        resolve(REDIS_OPTIONS, None, {"INGEST_CONNECT_TIMEOUT": "-1"})


def test_bad_flag_is_named_and_password_redacted() -> None:
    with pytest.raises(ConfigError) as info:
        resolve(REDIS_OPTIONS, {"redis_url": "http://u:hunter2@x"}, {})
    assert "--redis-url" in str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:s3cret@host/1", "redis://user:***@host/1"),
        ("rediss://u:p@[::1]:6380/0", "rediss://u:***@[::1]:6380/0"),
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_help_shows_variables_and_no_password() -> None:
    parser = argparse.ArgumentParser()
    add_options(parser, REDIS_OPTIONS)
    assert "INGEST_REDIS_URL" in parser.format_help()
    settings = RedisSettings.from_values(
        resolve(REDIS_OPTIONS, None, {"INGEST_REDIS_URL": "redis://:pw@h:1/0"})
    )
    assert settings.safe_url == "redis://:***@h:1/0"
