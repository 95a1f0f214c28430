"""ProducerSettings: defaults, precedence, and cross-field checks (pure)."""

from __future__ import annotations

import argparse

import pytest

from ingest.errors import ConfigError
from ingest.produce import build_parser
from ingest.settings import (
    PRODUCER_CLI_OPTIONS,
    Option,
    ProducerSettings,
    add_options,
    boolean,
    positive_int,
)


def test_defaults_follow_the_issue():
    settings = ProducerSettings.from_sources(None, {})
    assert (settings.maxlen, settings.high_water, settings.watermark_low) == (
        1_000_000,
        800_000,
        640_000,
    )
    assert (settings.batch_size, settings.max_event_bytes, settings.max_block_s) == (
        500,
        1024 * 1024,
        300.0,
    )
    assert settings.no_group == "block"
    assert settings.allow_eviction is False
    assert settings.redis.redis_url == "redis://localhost:6379/0"
    assert settings.stream == "ingest:events"


def test_the_producer_has_no_group_option():
    # Admission counts every group on the stream: a group setting would have no effect.
    settings = ProducerSettings.from_sources(None, {"INGEST_GROUP": "elsewhere"})
    assert settings.group == "workers"  # the variable is not read
    assert "--group" not in {o.flag for o in PRODUCER_CLI_OPTIONS}
    assert "INGEST_GROUP" not in {o.env for o in PRODUCER_CLI_OPTIONS}


def test_low_water_defaults_to_80_percent_of_high_water():
    settings = ProducerSettings.from_sources({"high_water": "1000", "maxlen": "2000"}, {})
    assert settings.watermark_low == 800


def test_flag_beats_variable_beats_default():
    environ = {"INGEST_MAXLEN": "5000", "INGEST_HIGH_WATER": "4000"}
    settings = ProducerSettings.from_sources({"high_water": "3000"}, environ)
    assert (settings.maxlen, settings.high_water) == (5000, 3000)


def test_allow_eviction_from_variable():
    settings = ProducerSettings.from_sources(None, {"INGEST_ALLOW_EVICTION": "yes"})
    assert settings.allow_eviction is True


@pytest.mark.parametrize(
    ("environ", "needle"),
    [
        (
            {"INGEST_LOW_WATER": "900", "INGEST_HIGH_WATER": "900"},
            "--low-water / INGEST_LOW_WATER = 900",
        ),
        (
            {"INGEST_HIGH_WATER": "2000", "INGEST_MAXLEN": "1000"},
            "--high-water / INGEST_HIGH_WATER = 2000",
        ),
        (
            {"INGEST_BATCH_SIZE": "2000", "INGEST_MAXLEN": "1000", "INGEST_HIGH_WATER": "500"},
            "--batch-size / INGEST_BATCH_SIZE = 2000",
        ),
        ({"INGEST_MAXLEN": "lots"}, "INGEST_MAXLEN = 'lots'"),
        ({"INGEST_NO_GROUP": "drop"}, "INGEST_NO_GROUP = 'drop'"),
        ({"INGEST_MAX_EVENT_BYTES": "0"}, "INGEST_MAX_EVENT_BYTES = '0'"),
    ],
)
def test_impossible_values_name_the_setting_and_value(environ, needle):
    with pytest.raises(ConfigError) as info:
        ProducerSettings.from_sources(None, environ)
    assert needle in str(info.value)


def test_high_water_equal_to_maxlen_is_allowed():
    settings = ProducerSettings.from_sources(
        None, {"INGEST_HIGH_WATER": "1000", "INGEST_MAXLEN": "1000"}
    )
    assert settings.high_water == settings.maxlen == 1000


def test_input_and_synthetic_exclude_each_other():
    with pytest.raises(ConfigError, match="--input and --synthetic"):
        ProducerSettings(input="x.csv", synthetic=10)


def test_log_level_reads_ingest_log_level_any_case_and_the_flag_wins():
    assert ProducerSettings.from_sources(None, {"INGEST_LOG_LEVEL": "debug"}).log_level == "DEBUG"
    given = {"log_level": "ERROR"}
    assert ProducerSettings.from_sources(given, {"INGEST_LOG_LEVEL": "debug"}).log_level == "ERROR"
    with pytest.raises(ConfigError, match="INGEST_LOG_LEVEL = 'loud'"):
        ProducerSettings.from_sources(None, {"INGEST_LOG_LEVEL": "loud"})


def test_log_level_option_declares_its_variable():
    from ingest.settings import PRODUCER_OPTIONS

    option = next(o for o in PRODUCER_OPTIONS if o.dest == "log_level")
    assert option.env == "INGEST_LOG_LEVEL"


def test_help_shows_boolean_defaults_as_off_and_on_like_the_readme():
    parser = argparse.ArgumentParser(formatter_class=_OneLine)
    add_options(
        parser,
        (
            Option("a", "--allow", "X_ALLOW", boolean, False, "allow it", is_flag=True),
            Option("b", "--keep", None, boolean, True, "keep it"),
            Option("n", "--count", None, positive_int, 3, "how many"),
        ),
    )
    text = parser.format_help()
    assert "allow it; default off [env X_ALLOW]" in text
    assert "keep it; default on" in text
    assert "how many; default 3" in text
    assert "False" not in text
    assert "True" not in text


def test_producer_help_says_off_for_allow_eviction():
    text = build_parser().format_help()
    assert "default off [env INGEST_ALLOW_EVICTION]" in " ".join(text.split())


class _OneLine(argparse.HelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=500)
