"""One proxied connection: a client socket, its target socket, and two directions.

Each direction is a reader task and a deliverer task joined by a bounded queue: the reader
takes every chunk as it arrives and stamps it with its delivery time (arrival + latency);
the deliverer writes chunks in order once that time has come and the direction is not held.
A full queue stops the reader, so a held direction pushes back on the sender the way a full
TCP window does. All of it runs on the proxy's event loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field

from faults.mode import PASS, Direction, Mode

CHUNK_BYTES = 65536
QUEUE_CHUNKS = 64  # at most 4 MiB held per direction before the sender is pushed back
_EOF = None


@dataclass
class Shared:
    """State all links of one proxy read; owned and changed only by the proxy, on its loop.

    Attributes:
        mode: the standing faults.
        flowing: per direction, set while that direction is not held.
        armed_drops: requests whose reply is still to be dropped.
        replies_dropped: replies dropped so far (each closed its connection).
    """

    mode: Mode = PASS
    flowing: dict[Direction, asyncio.Event] = field(default_factory=dict)
    armed_drops: int = 0
    replies_dropped: int = 0


class ReplyDroppedError(Exception):
    """A doomed request's reply arrived: the connection is reset without delivering it."""


def send_rst(writer: asyncio.StreamWriter) -> None:
    """Close ``writer``'s socket with an RST (``SO_LINGER`` on, 0 s) instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Link:
    """Client <-> target forwarding for one accepted connection, under ``shared``'s faults.

    Args:
        shared: the proxy's :class:`Shared` state.
        client: the accepted connection's reader and writer.
        target: ``(host, port)`` to connect to.
    """

    def __init__(
        self,
        shared: Shared,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        target: tuple[str, int],
    ) -> None:
        self.shared = shared
        self.client_reader, self.client_writer = client
        self.target = target
        self.server_writer: asyncio.StreamWriter | None = None
        self.doomed = False  # a request went up whose reply must be dropped
        self.reset_requested = False
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Forward until both directions have passed EOF; RST both sides on any error, on a
        dropped reply, or when :meth:`reset` cancelled it."""
        self.task = asyncio.current_task()
        tasks: list[asyncio.Task[None]] = []
        clean = False
        try:
            # A held request direction is a dropped SYN to the target: do not connect yet.
            await self.shared.flowing[Direction.UP].wait()
            server_reader, self.server_writer = await asyncio.open_connection(*self.target)
            up: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(QUEUE_CHUNKS)
            down: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(QUEUE_CHUNKS)
            tasks = [
                asyncio.create_task(self._read(Direction.UP, self.client_reader, up)),
                asyncio.create_task(self._deliver(Direction.UP, up, self.server_writer)),
                asyncio.create_task(self._read(Direction.DOWN, server_reader, down)),
                asyncio.create_task(self._deliver(Direction.DOWN, down, self.client_writer)),
            ]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            clean = all(t.exception() is None for t in done) and len(done) == len(tasks)
        except (OSError, asyncio.CancelledError):
            pass  # target refused, or reset()/stop() cancelled us: RST below
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._close(rst=not clean)

    def reset(self) -> None:
        """RST both sides now (the running :meth:`run` is cancelled and cleans up)."""
        self.reset_requested = True
        if self.task is not None:
            self.task.cancel()

    def _close(self, *, rst: bool) -> None:
        for writer in (self.client_writer, self.server_writer):
            if writer is None:
                continue
            if rst:
                send_rst(writer)
            else:
                writer.close()

    async def _read(
        self,
        direction: Direction,
        reader: asyncio.StreamReader,
        queue: asyncio.Queue[tuple[float, bytes] | None],
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data = await reader.read(CHUNK_BYTES)
            if not data:
                await queue.put(_EOF)
                return
            if direction is Direction.DOWN and self.doomed:
                self.shared.replies_dropped += 1
                raise ReplyDroppedError
            await queue.put((loop.time() + self.shared.mode.latency_s(direction), data))

    async def _deliver(
        self,
        direction: Direction,
        queue: asyncio.Queue[tuple[float, bytes] | None],
        writer: asyncio.StreamWriter,
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            item = await queue.get()
            await self.shared.flowing[direction].wait()
            if item is _EOF:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            due, data = item
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            await self.shared.flowing[direction].wait()  # a hold may have begun meanwhile
            if direction is Direction.UP and self.shared.armed_drops and not self.doomed:
                self.shared.armed_drops -= 1
                self.doomed = True
            writer.write(data)
            await writer.drain()
