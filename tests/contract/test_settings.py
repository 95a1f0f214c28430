from __future__ import annotations

import argparse

import pytest

from ingest.errors import ConfigError
from ingest.settings import (
    PRODUCER_OPTIONS,
    REDIS_OPTIONS,
    STREAM_OPTIONS,
    Option,
    RedisSettings,
    add_options,
    redact_text,
    redact_url,
    resolve,
    text,
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


@pytest.mark.parametrize(
    ("args", "environ", "message"),
    [
        (
            {"maxlen": "0"},
            {"INGEST_MAXLEN": "5"},
            "--maxlen = '0' (--maxlen / INGEST_MAXLEN): must be at least 1",
        ),
        (None, {"INGEST_MAXLEN": "0"}, "INGEST_MAXLEN = '0' (--maxlen / INGEST_MAXLEN): must be"),
        ({"input": ""}, {}, "--input = '': must not be empty"),
    ],
)
def test_bad_value_names_where_it_came_from_and_both_names(
    args: dict[str, str] | None, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(PRODUCER_OPTIONS, args, environ)
    assert str(info.value).startswith(message)


def _help(options: tuple[Option, ...]) -> str:
    parser = argparse.ArgumentParser()
    add_options(parser, options)
    return " ".join(parser.format_help().split())  # argparse wraps lines


def test_help_does_not_print_a_missing_default() -> None:
    shown = _help(PRODUCER_OPTIONS)
    assert "default None" not in shown
    assert "(default 80% of high-water) (entries) [env INGEST_LOW_WATER]" in shown
    assert "default 1000000 [env INGEST_MAXLEN]" in shown


def test_help_lists_the_choices_of_a_setting() -> None:
    shown = _help(PRODUCER_OPTIONS)
    assert "--format {csv,jsonl,lines}" in shown
    assert "--no-group {block,trim}" in shown
    assert "--maxlen MAXLEN" in shown


def test_option_without_choices_is_built_as_before_and_explicit_choices_win() -> None:
    plain = Option("mode", "--mode", "INGEST_MODE", text, "a", "a mode", "", False, False)
    listed = Option("mode", "--mode", None, text, "a", "a mode", choices=("a", "b"))
    assert plain.choices is None
    assert plain.allowed is None
    assert "--mode MODE" in _help((plain,))
    assert "--mode {a,b}" in _help((listed,))
    assert resolve((listed,), {"mode": "c"}, {}) == {"mode": "c"}  # shown, not checked


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


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6503/0?password=WrongPW99", "redis://127.0.0.1:6503/0?password=***"),
        (
            "unix:///run/redis.sock?db=1&password=WrongPW99&username=app",
            "unix:///run/redis.sock?db=1&password=***&username=app",
        ),
        ("redis://h:1/0?PASSWORD=WrongPW99#x", "redis://h:1/0?PASSWORD=***#x"),
        ("redis://u:WrongPW99@h:1/0?password=WrongPW99", "redis://u:***@h:1/0?password=***"),
    ],
)
def test_redact_url_hides_a_password_query_parameter(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:S3cr3tPW@127.0.0.1:abc/0", "redis://:***@127.0.0.1:abc/0"),
        ("redis://:S3cr3tPW@127.0.0.1:99999/0", "redis://:***@127.0.0.1:99999/0"),
        ("redis://:S3cr3tPW@[::1/0", "redis://:***@[::1/0"),
        ("redis://:S3c@r3tPW@host/0", "redis://:***@host/0"),
        ("redis://user@host/0", "redis://user@host/0"),
        ("not a url ://:S3cr3tPW@", "not a url ://:***@"),
    ],
)
def test_redact_url_never_raises_on_a_broken_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_finds_every_url_in_a_line() -> None:
    line = (
        'error: Redis at redis://:S3cr3tPW@h:1/0 refused; "rediss://app:S3cr3tPW@h2:6380" '
        "and unix:///s.sock?password=S3cr3tPW&db=2"
    )
    assert redact_text(line) == (
        'error: Redis at redis://:***@h:1/0 refused; "rediss://app:***@h2:6380" '
        "and unix:///s.sock?password=***&db=2"
    )


def test_bad_port_with_a_password_is_a_config_error_naming_the_option() -> None:
    with pytest.raises(ConfigError) as info:
        resolve(REDIS_OPTIONS, None, {"INGEST_REDIS_URL": "redis://:S3cr3tPW@127.0.0.1:abc/0"})
    message = str(info.value)
    assert message.startswith("INGEST_REDIS_URL = 'redis://:***@127.0.0.1:abc/0'")
    assert "--redis-url / INGEST_REDIS_URL" in message
    assert "port must be a number" in message
    assert "S3cr3tPW" not in message


def test_help_shows_variables_and_no_password() -> None:
    parser = argparse.ArgumentParser()
    add_options(parser, REDIS_OPTIONS)
    assert "INGEST_REDIS_URL" in parser.format_help()
    settings = RedisSettings.from_values(
        resolve(REDIS_OPTIONS, None, {"INGEST_REDIS_URL": "redis://:pw@h:1/0"})
    )
    assert settings.safe_url == "redis://:***@h:1/0"


@pytest.mark.parametrize(
    ("name", "value"), [("INGEST_CONNECT_TIMEOUT", "soon"), ("INGEST_CONNECT_TIMEOUT", "")]
)
def test_non_numbers_get_a_plain_reason(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match="must be a number"):
        resolve(REDIS_OPTIONS, None, {name: value})


def test_non_whole_numbers_get_a_plain_reason() -> None:
    from ingest.settings import positive_int

    with pytest.raises(ValueError, match="must be a whole number"):
        positive_int("12.5")
