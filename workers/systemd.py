"""systemd's service notification protocol (``sd_notify``), in a few lines over a datagram socket.

Protocol: https://www.freedesktop.org/software/systemd/man/latest/sd_notify.html. The service
manager sets ``NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace) and, with
``WatchdogSec=``, ``WATCHDOG_USEC``. Every call is a no-op when ``NOTIFY_SOCKET`` is unset, so
the worker runs the same under Kubernetes, compose or a terminal.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


class Notifier:
    """Sends ``READY=1``, ``STATUS=...``, ``WATCHDOG=1`` and ``STOPPING=1`` to systemd.

    Args:
        environ: where to read ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID``
            (default ``os.environ``).

    Send errors are swallowed: a lost notification must not stop the worker (systemd's own
    ``sd_notify`` behaves the same).
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address: str | None = None
        if address.startswith("@"):
            self._address = "\0" + address[1:]
        elif address.startswith("/"):
            self._address = address
        self._sock: socket.socket | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        watchdog_for_us = not pid or pid == str(os.getpid())
        self.watchdog_interval_s: float | None = (
            int(usec) / 1_000_000 / 2
            if usec.isdigit() and int(usec) > 0 and watchdog_for_us
            else None
        )
        """Half the watchdog timeout in seconds (send WATCHDOG=1 at least this often), or None."""

    @property
    def enabled(self) -> bool:
        """True when ``NOTIFY_SOCKET`` names a socket."""
        return self._address is not None

    def notify(self, message: str) -> None:
        """Send one raw notification (``KEY=VALUE`` lines)."""
        if self._address is None:
            return
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode(), self._address)
        except OSError:
            return

    def ready(self, status: str = "") -> None:
        """``READY=1`` (the worker has joined its consumer group), with an optional status."""
        self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, text: str) -> None:
        """``STATUS=<text>``: one line shown by ``systemctl status``."""
        self.notify(f"STATUS={text}")

    def watchdog(self) -> None:
        """``WATCHDOG=1``: the main loop is alive."""
        if self.watchdog_interval_s is not None:
            self.notify("WATCHDOG=1")

    def stopping(self, status: str = "") -> None:
        """``STOPPING=1``: shutdown has begun."""
        self.notify("STOPPING=1" + (f"\nSTATUS={status}" if status else ""))

    def close(self) -> None:
        """Close the socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
