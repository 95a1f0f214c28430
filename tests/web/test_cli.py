"""``python -m workers.web``: one-line configuration errors (exit 2), loopback by default, the
URL printed once it listens, pages that say Redis is unreachable rather than failing, and a
clean stop on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import redis

from tests.redis_server import RedisServer, free_port
from workers.web.cli import main
from workers.web.settings import WebSettings


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


def test_defaults_are_loopback_read_only_and_the_configured_stream():
    settings = WebSettings.from_sources(None, {"INGEST_STREAM": "orders"})

    assert (settings.host, settings.read_only, settings.streams) == ("127.0.0.1", True, ("orders",))
    assert settings.loopback


def test_streams_and_credentials_from_the_environment(tmp_path: Path):
    token = tmp_path / "token"
    token.write_text("Zq9-secret\n")
    env = {"INGEST_WEB_STREAMS": "a, {b}:c", "INGEST_WEB_TOKEN_FILE": str(token)}

    settings = WebSettings.from_sources(None, env)

    assert settings.streams == ("a", "{b}:c")
    assert settings.credentials is not None and settings.credentials.secret == "Zq9-secret"  # noqa: S105
    assert "Zq9-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--port", "70000"], "--port = '70000' (--port / INGEST_WEB_PORT): must be a TCP port"),
        (["--refresh", "0"], "--refresh = '0'"),
        (["--jaeger-url", "ftp://x"], "must be an http:// or https:// URL"),
        (["--streams", "a,,b"], "none empty"),
        (["--streams", "a,a"], "names a stream twice"),
        (["--token-file", "/nonexistent/token"], "cannot read /nonexistent/token"),
        (["--redis-url", "http://x"], "must be a redis://"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(argv, says, capsys):
    assert main(argv, environ={}) == 2
    assert says in _one_line_error(capsys)


def test_a_token_and_basic_auth_exclude_each_other(tmp_path, capsys):
    (tmp_path / "t").write_text("tok")
    (tmp_path / "b").write_text("ops:pw")
    argv = ["--token-file", str(tmp_path / "t"), "--basic-auth-file", str(tmp_path / "b")]

    assert main(argv, environ={}) == 2
    assert "give one" in _one_line_error(capsys)


def test_a_basic_auth_file_must_hold_user_and_password(tmp_path, capsys):
    (tmp_path / "b").write_text("just-a-password\n")

    assert main(["--basic-auth-file", str(tmp_path / "b")], environ={}) == 2
    err = _one_line_error(capsys)
    assert "must hold user:password" in err and "just-a-password" not in err


@pytest.mark.redis
def test_refused_redis_credentials_are_exit_2(make_redis_server, capsys):
    server: RedisServer = make_redis_server()
    redis.Redis(port=server.port).config_set("requirepass", "right")
    url = f"redis://:wrong@127.0.0.1:{server.port}/0"

    assert main(["--redis-url", url, "--port", "0"], environ={}) == 2
    err = _one_line_error(capsys)
    assert "refused the credentials" in err and "wrong" not in err


@pytest.mark.slow
def test_it_serves_says_redis_is_unreachable_and_stops_on_sigterm(subprocess_env, tmp_path):
    # Given no Redis at the URL
    env = dict(subprocess_env, INGEST_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
               INGEST_CONNECT_TIMEOUT="1", INGEST_LOG_FORMAT="json")  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.web", "--port", "0"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("dashboard: http://127.0.0.1:"), line
        url = line.split(" ", 1)[1].strip()
        # When a page is asked for: it says Redis is unreachable (200, the page still works)
        with urllib.request.urlopen(url + "streams", timeout=10) as reply:  # noqa: S310 (loopback)
            body = reply.read().decode()
        assert reply.status == 200 and "Redis unreachable" in body
        assert "Read-only mode" in body
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert '"message":"dashboard on http://127.0.0.1:' in err
