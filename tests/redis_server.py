"""A private ``redis-server`` process for tests and benchmarks.

Started from PATH on a free loopback port with persistence off (unless AOF is asked for),
in its own temporary directory. No skips: when ``redis-server`` is missing, starting fails
with a message saying how to install it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

INSTALL_HINT = (
    "redis-server was not found on PATH. Install it (Debian/Ubuntu: "
    "`sudo apt-get install -y redis-server`; .ci/run does this) and run the tests again."
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` child process.

    Args:
        appendonly: turn AOF on (``appendfsync always``, for restart tests); off by default.
        extra: more ``--name value`` config pairs, e.g. ``["--maxmemory-policy", "allkeys-lru"]``.
        new_session: start it in a session of its own, so a Ctrl-C at the terminal reaches
            only the parent, which stops it last (the demo).
    """

    def __init__(
        self, *, appendonly: bool = False, extra: list[str] | None = None, new_session: bool = False
    ) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RuntimeError(INSTALL_HINT)
        self.dir = Path(tempfile.mkdtemp(prefix="ingest-redis-"))
        self.port = free_port()
        self.appendonly = appendonly
        self.extra = extra or []
        self.new_session = new_session
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the server and wait (polling PING) until it answers."""
        assert self.binary is not None
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            str(self.dir / "redis.log"),
        ]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        args += self.extra
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=self.new_session,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise RuntimeError(f"redis-server exited at start: {err}")
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("redis-server did not answer PING in time") from None
                    time.sleep(0.02)  # polling for start-up, not waiting for an outcome
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server (SIGTERM; it writes the AOF) and wait for it to exit."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port and directory (the AOF is reloaded)."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        """Stop and remove the temporary directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
