"""The producer records its effective settings in the stream's config hash (real redis-server)."""

from __future__ import annotations

import logging

import pytest
import redis

from ingest.codec import now_ms
from ingest.keys import StreamKeys
from ingest.produce import main
from ingest.producer import Producer
from ingest.settings import ProducerSettings, RedisSettings

pytestmark = pytest.mark.redis

CONFIG = StreamKeys("ingest:events").config


def test_config_key_shares_the_stream_slot():
    assert CONFIG == "{ingest:events}:config"
    assert StreamKeys("{orders}:events").config == "{orders}:events:config"


def test_cli_records_the_settings_in_effect(redis_url, client, capsys):
    before = now_ms()
    argv = ["--synthetic", "3", "--maxlen", "1000", "--high-water", "500", "--no-group", "trim"]
    assert main([*argv, "--redis-url", redis_url], {}) == 0
    capsys.readouterr()
    recorded = client.hgetall(CONFIG)
    assert {k: v for k, v in recorded.items() if k != "updated_at_ms"} == {
        "maxlen": "1000",
        "high_water": "500",
        "low_water": "400",
        "no_group": "trim",
    }
    assert before <= int(recorded["updated_at_ms"]) <= now_ms()


def test_a_user_without_hset_only_gets_a_warning(redis_url, client, caplog):
    # Given: a least-privilege producer user as the notes describe, without +hset
    commands = ["+fcall", "+fcall_ro", "+xadd", "+xtrim", "+xlen", "+xrange", "+xinfo|groups"]
    commands += ["+xpending", "+exists", "+ping", "+hello", "+config|get", "+function|load"]
    commands += ["+function|list", "+client"]
    client.acl_setuser(
        "producer", enabled=True, passwords=["+pw"], keys="*", commands=commands, reset=True
    )
    url = redis_url.replace("redis://", "redis://producer:pw@")
    settings = ProducerSettings(redis=RedisSettings(url), stream="ingest:events")
    producer = Producer(redis.Redis.from_url(url, decode_responses=True), settings)
    try:
        # When it starts
        with caplog.at_level(logging.WARNING, logger="ingest.preflight"):
            producer.prepare()
        # Then: it runs, warns, and records nothing
        assert any("cannot record the producer settings" in r.getMessage() for r in caplog.records)
        assert client.exists(CONFIG) == 0
    finally:
        producer.client.close()
        client.acl_deluser("producer")
