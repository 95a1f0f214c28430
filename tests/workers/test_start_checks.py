"""What the worker checks and says at start: a server that persists nothing, a handler that
cannot be loaded, the help text, the error line in JSON log mode."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ingest.connection import async_client
from ingest.errors import ConfigError
from ingest.settings import RedisSettings
from tests.redis_server import RedisServer
from workers import cli, handlers
from workers.consumer import warn_if_not_persistent
from workers.settings import WorkerSettings


async def test_a_server_that_persists_nothing_is_warned_about_once(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="workers")
    aclient = async_client(RedisSettings(redis_url))
    try:
        assert await warn_if_not_persistent(aclient) is True
    finally:
        await aclient.aclose()
    [line] = [r.getMessage() for r in caplog.records if "persists nothing" in r.getMessage()]
    assert "appendonly yes" in line


async def test_a_server_with_aof_is_not_warned_about(
    make_redis_server: Callable[..., RedisServer], caplog: pytest.LogCaptureFixture
) -> None:
    server = make_redis_server(appendonly=True)
    caplog.set_level(logging.WARNING, logger="workers")
    aclient = async_client(RedisSettings(server.url))
    try:
        assert await warn_if_not_persistent(aclient) is False
    finally:
        await aclient.aclose()
    assert "persists nothing" not in caplog.text


def _load(ref: str) -> handlers.LoadedHandler:
    settings = WorkerSettings.from_sources({"handler": ref}, {})
    with ThreadPoolExecutor(1) as executor:
        return cli.load_handler(settings, executor)


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("tests.workers.no_such_module:handle", "No module named"),
        ("tests.workers.bad_handlers:missing", "has no attribute 'missing'"),
        ("tests.workers.bad_handlers_broken:handle", "importing it failed: RuntimeError"),
        ("tests.workers.bad_handlers:NeedsArguments", "the class failed: TypeError"),
        ("tests.workers.bad_handlers:no_arguments", "the handler cannot take one argument"),
        ("tests.workers.bad_handlers:two_arguments", "the handler cannot take one argument"),
        ("tests.workers.bad_handlers:BatchWithoutArgument", "handle_batch method cannot take"),
        ("tests.workers.bad_handlers:failing_factory", "the factory failed: ValueError"),
        ("tests.workers.bad_handlers:NOT_CALLABLE", "not callable"),
    ],
)
def test_a_handler_that_cannot_be_loaded_is_a_config_error_naming_it(ref: str, says: str) -> None:
    with pytest.raises(ConfigError, match="--handler / INGEST_HANDLER") as info:
        _load(ref)
    assert says in str(info.value)
    assert ref in str(info.value)


def test_a_handler_factory_is_called_once_with_the_settings() -> None:
    loaded = _load("tests.workers.bad_handlers:make_handler")
    assert loaded.target.stream == "ingest:events"
    assert loaded.batched


def test_a_handler_that_cannot_be_loaded_exits_2_with_one_line(
    subprocess_env: dict[str, str],
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "workers", "--redis-url", "redis://127.0.0.1:1/0",
         "--handler", "tests.workers.bad_handlers:two_arguments", "--log-format", "text"],
        env=subprocess_env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("error: --handler / INGEST_HANDLER")


def test_in_json_log_mode_every_line_of_stderr_is_json(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "workers", "--redis-url", "redis://127.0.0.1:1/0",
         "--connect-timeout", "0.2", "--log-format", "json", "--sink", f"sqlite:///{tmp_path}/s.db"],
        env=subprocess_env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert lines
    records = [json.loads(line) for line in lines]
    assert records[-1]["level"] == "ERROR"
    assert "unreachable" in records[-1]["message"]


def test_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    for markup in ("``", ":class:", ":func:", ":mod:", ".. "):
        assert markup not in out, markup
    assert "--handler-timeout" in out and "--max-crashes" in out
