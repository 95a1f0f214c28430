"""A TCP proxy on loopback in front of a redis-server that can lose one reply.

``LossyProxy(upstream_port)`` forwards every connection byte for byte. After
``lose_reply_of(b"ingest_admit")``, the next command containing those bytes reaches the server,
and its reply is swallowed: the proxy closes the client's connection instead, as a network
that fails after the server acted would. The client sees a dropped connection and cannot tell
whether its command was applied.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.redis_server import free_port


class LossyProxy:
    """Forwards ``127.0.0.1:<port>`` to ``127.0.0.1:<upstream_port>``; see the module docstring.

    Attributes:
        port: where clients connect.
        lost: replies swallowed so far.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.lost = 0
        self._marker: bytes | None = None
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._sockets: list[socket.socket] = [self._server]
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def lose_reply_of(self, marker: bytes) -> None:
        """Swallow the reply of the next command whose bytes contain ``marker``."""
        with self._lock:
            self._marker = marker

    def _armed(self, chunk: bytes) -> bool:
        with self._lock:
            if self._marker is not None and self._marker in chunk:
                self._marker = None
                return True
            return False

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._sockets += [client, upstream]
            doomed = threading.Event()
            threading.Thread(target=self._up, args=(client, upstream, doomed), daemon=True).start()
            threading.Thread(
                target=self._down, args=(upstream, client, doomed), daemon=True
            ).start()

    def _up(self, client: socket.socket, upstream: socket.socket, doomed: threading.Event) -> None:
        try:
            while chunk := client.recv(65536):
                if self._armed(chunk):
                    doomed.set()
                upstream.sendall(chunk)
        except OSError:
            pass

    def _down(
        self, upstream: socket.socket, client: socket.socket, doomed: threading.Event
    ) -> None:
        try:
            while chunk := upstream.recv(65536):
                if doomed.is_set():
                    self.lost += 1
                    client.shutdown(socket.SHUT_RDWR)
                    client.close()
                    upstream.close()
                    return
                client.sendall(chunk)
        except OSError:
            pass

    def close(self) -> None:
        """Stop accepting and close every socket."""
        self._stopped.set()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
