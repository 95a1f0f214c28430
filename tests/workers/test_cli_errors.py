"""Usage and configuration errors of ``python -m workers`` and ``python -m workers.dlq``:
one clear line naming the flag and the bad value, exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from ingest.errors import ConfigError
from tests.workers.util import add_events
from workers import cli, dlq
from workers.settings import WorkerSettings

UNREACHABLE = "redis://127.0.0.1:1/0"


def _dlq_exit(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run the dead-letter CLI in-process against an unreachable Redis (usage errors must be
    found before connecting): (exit code, stderr)."""
    code = dlq.main(["--redis-url", UNREACHABLE, "--connect-timeout", "0.1", *argv], {})
    return code, capsys.readouterr().err


# ---- python -m workers --------------------------------------------------------------------


def test_sink_in_a_missing_directory_is_a_one_line_config_error(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Given a sink path whose directory does not exist (and Redis that is not even needed)
    sink = f"sqlite:///{tmp_path}/nonexistent/dir/x.db"

    # When the worker starts
    proc = subprocess.run(
        [sys.executable, "-m", "workers", "--redis-url", UNREACHABLE, "--sink", sink],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    # Then it refuses at once with one line naming the flag, the variable and the directory
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "--sink / INGEST_SINK" in proc.stderr
    assert f"{tmp_path}/nonexistent/dir" in proc.stderr
    assert "does not exist" in proc.stderr


def test_sink_that_is_not_a_database_or_not_writable_is_a_config_error(tmp_path: Path) -> None:
    not_a_db = tmp_path / "junk.db"
    not_a_db.write_bytes(b"this is not an SQLite file" * 100)
    junk = WorkerSettings.from_sources({"sink": f"sqlite:///{not_a_db}"}, {})
    a_dir = WorkerSettings.from_sources({"sink": f"sqlite:///{tmp_path}"}, {})

    with ThreadPoolExecutor(1) as executor, pytest.raises(ConfigError, match="not a database"):
        cli.load_handler(junk, executor)
    with pytest.raises(ConfigError, match=r"--sink / INGEST_SINK = .* is a directory"):
        cli.check_sink(a_dir)


def test_sink_in_a_read_only_directory_is_a_config_error(tmp_path: Path) -> None:
    read_only = tmp_path / "ro"
    read_only.mkdir(mode=0o500)
    settings = WorkerSettings.from_sources({"sink": f"sqlite:///{read_only}/x.db"}, {})

    if os.geteuid() == 0:  # root writes anywhere: then the check must let it through
        cli.check_sink(settings)
        return
    with pytest.raises(ConfigError, match="is not writable"):
        cli.check_sink(settings)


def test_sink_directory_is_not_checked_when_a_handler_is_given(tmp_path: Path) -> None:
    settings = WorkerSettings.from_sources(
        {"handler": "tests.workers.sample_handlers:record", "sink": "sqlite:///nope/x.db"}, {}
    )

    assert settings.handler is not None
    cli.check_sink(settings)  # no error: the sink is not used


@pytest.mark.parametrize("value", ["banana", "1-", "-1", "1-2-3", "12a", "", "+", ">"])
def test_bad_start_id_is_refused_naming_the_flag(value: str) -> None:
    with pytest.raises(ConfigError, match=r"--start-id = .*must be 0, \$ or an entry ID"):
        WorkerSettings.from_sources({"start_id": value or " "}, {})


@pytest.mark.parametrize("value", ["0", "$", "1718000000000", "1718000000000-5", "0-0"])
def test_good_start_ids_are_accepted(value: str) -> None:
    assert WorkerSettings.from_sources({"start_id": value}, {}).start_id == value


def test_start_id_banana_exits_2_with_a_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--redis-url", UNREACHABLE, "--start-id", "banana"], {}) == 2
    err = capsys.readouterr().err
    assert "--start-id = 'banana'" in err
    assert "something other than a stream" not in err


@pytest.mark.parametrize("port", ["70000", "65536", "-1"])
def test_http_port_out_of_range_is_refused(port: str) -> None:
    with pytest.raises(ConfigError, match=rf"--http-port = '{port}'"):
        WorkerSettings.from_sources({"http_port": port}, {})
    assert WorkerSettings.from_sources({"http_port": "65535"}, {}).http_port == 65535


def test_worker_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    assert "exit codes:" in out.lower()
    for code in ("0 ", "1 ", "2 ", "3 ", "128+signal"):
        assert f"\n  {code}" in out, code


# ---- python -m workers.dlq ----------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["show", "garbage"], ["replay", "garbage"], ["replay", "1-0", "nope"], ["show", "1-x"]],
)
def test_bad_entry_id_exits_2_naming_it(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _dlq_exit(argv, capsys)

    assert code == 2
    bad = argv[-1]
    assert f"not an entry ID: {bad!r}" in err
    assert "Traceback" not in err


def test_bad_entry_id_on_a_live_server_is_not_a_redis_traceback(
    redis_url: str, client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    add_events(client, 1)
    for argv in (["show", "garbage"], ["replay", "garbage"]):
        assert dlq.main(["--redis-url", redis_url, *argv], {}) == 2
        assert "not an entry ID: 'garbage'" in capsys.readouterr().err


@pytest.mark.parametrize("rate", ["0", "-5", "nan", "fast"])
def test_replay_rate_must_be_positive(rate: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _dlq_exit(["replay", "--all", "--rate", rate], capsys)

    assert code == 2
    assert "--rate" in err
    assert "above 0" in err


def test_replay_without_arguments_says_what_to_give(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _dlq_exit(["replay"], capsys)

    assert code == 2
    assert "give --all or one or more entry IDs" in err
    assert "not both" not in err

    code, err = _dlq_exit(["replay", "--all", "1-0"], capsys)
    assert code == 2
    assert "not both" in err


def test_purge_without_a_filter_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _dlq_exit(["purge"], capsys)

    assert code == 2
    assert "--all" in err and "--older-than" in err


@pytest.mark.parametrize("value", ["-5s", "-2h", "0s", "0", "soon", "5x"])
def test_purge_older_than_needs_a_positive_duration(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _dlq_exit(["purge", "--older-than", value], capsys)

    assert code == 2
    assert "--older-than" in err
    assert f"{value!r}" in err
    assert "positive duration" in err
    assert "expected one argument" not in err


def test_purge_all_and_older_than_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _dlq_exit(["purge", "--all", "--older-than", "1h"], capsys)

    assert code == 2
    assert "not allowed with" in err


def test_dlq_help_explains_json_count_id_and_all(capsys: pytest.CaptureFixture[str]) -> None:
    parser = dlq.build_parser()
    texts = {}
    for argv in (["--help"], ["list", "--help"], ["show", "--help"], ["replay", "--help"]):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
        texts[argv[0]] = " ".join(capsys.readouterr().out.split())

    assert "JSON when stdout is not a terminal" in texts["--help"]
    assert "--count COUNT how many entries to list" in texts["list"]
    assert "id the dead-letter entry ID" in texts["show"]
    assert "--all replay every dead-letter entry" in texts["replay"]


@pytest.mark.parametrize(
    ("argv", "environ", "shown"),
    [
        (["--min-idle", "0"], {}, "--min-idle = '0'"),
        (["--min-idle", "0.5"], {"INGEST_MIN_IDLE": "60"}, "--min-idle = '0.5'"),
        ([], {"INGEST_MIN_IDLE": "0"}, "INGEST_MIN_IDLE = '0'"),
    ],
)
def test_min_idle_below_one_second_exits_2_naming_the_setting(
    argv: list[str], environ: dict[str, str], shown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # When a worker is started with a min-idle under 1 s (live workers would steal entries)
    code = cli.main(["--redis-url", UNREACHABLE, *argv], environ)

    # Then it refuses at once (before connecting), one line naming the setting and value
    err = capsys.readouterr().err
    assert code == 2, err
    assert shown in err
    assert "--min-idle" in err and "INGEST_MIN_IDLE" in err
    assert "must be at least 1 s" in err
    assert "Traceback" not in err


def test_min_idle_of_one_second_is_accepted_and_refreshed_four_times_as_often() -> None:
    settings = WorkerSettings.from_sources({"min_idle_s": "1"}, {})
    assert settings.min_idle_s == 1.0
    assert settings.refresh_interval_s == 0.25
