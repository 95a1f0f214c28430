"""Misconfigurations end every CLI with one line and a documented exit code, never a
traceback: an in-memory sink, a peer that is not Redis, bad URL parameters, a password both in
the URL and in a file, an unreadable password file."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import error_lines

pytestmark = pytest.mark.slow

CLIS = (
    ["ingest.produce", "--synthetic", "3"],
    ["workers", "--burst"],
    ["ingest.stats"],
    ["workers.dlq", "list"],
)


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], env=env, capture_output=True, text=True, timeout=60,
        cwd=cwd,
    )  # fmt: skip


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.fixture
def garbage_port() -> Iterator[int]:
    """A TCP server on loopback that answers every connection with an HTTP error page."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    conn.recv(1024)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(timeout=5)
    server.close()


@pytest.mark.parametrize("sink", ["sqlite:///:memory:"])
def test_an_in_memory_sink_is_refused_with_exit_2(sink, subprocess_env, tmp_path):
    env = dict(subprocess_env, INGEST_REDIS_URL="redis://127.0.0.1:1/0")

    result = run(["workers", "--sink", sink], env, tmp_path)

    assert result.returncode == 2
    assert "keeps nothing after the worker exits" in one_error_line(result)


@pytest.mark.parametrize("cli", CLIS, ids=lambda c: c[0])
def test_a_peer_that_is_not_redis_is_one_line_exit_2(cli, garbage_port, subprocess_env, tmp_path):
    env = dict(subprocess_env, INGEST_REDIS_URL=f"redis://127.0.0.1:{garbage_port}/0",
               INGEST_CONNECT_TIMEOUT="5")  # fmt: skip

    result = run(cli, env, tmp_path)

    assert result.returncode == 2, result.stderr
    assert "does not speak the Redis protocol" in one_error_line(result)


@pytest.mark.parametrize("cli", CLIS, ids=lambda c: c[0])
@pytest.mark.parametrize(
    ("query", "named"),
    [("socket_timeout=abc", "--socket-timeout"), ("ssl_cert_reqs=none", "rediss://"),
     ("bogus=1", "unknown URL parameter"), ("db=x", "database index")],
)  # fmt: skip
def test_bad_url_parameters_are_one_line_exit_2(cli, query, named, subprocess_env, tmp_path):
    env = dict(subprocess_env, INGEST_REDIS_URL=f"redis://127.0.0.1:1/0?{query}")

    result = run(cli, env, tmp_path)

    assert result.returncode == 2, result.stderr
    assert named in one_error_line(result)


@pytest.mark.parametrize("cli", CLIS, ids=lambda c: c[0])
def test_a_password_file_problem_is_one_line_without_the_password(cli, subprocess_env, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("file-secret-123\n")
    both = dict(subprocess_env, INGEST_REDIS_URL="redis://:url-secret-456@127.0.0.1:1/0",
                INGEST_REDIS_PASSWORD_FILE=str(secret))  # fmt: skip
    missing = dict(subprocess_env, INGEST_REDIS_PASSWORD_FILE=str(tmp_path / "nope"))

    for env, expected in ((both, "give it once"), (missing, "cannot read")):
        result = run(cli, env, tmp_path)
        assert result.returncode == 2, result.stderr
        line = one_error_line(result)
        assert expected in line
        assert "file-secret-123" not in result.stderr + result.stdout
        assert "url-secret-456" not in result.stderr + result.stdout
