"""A TCP proxy on 127.0.0.1 with faults switched at run time, for tests and benchmarks.

It runs an asyncio loop in one background thread; the control methods are called from any
other thread and return once the change is in effect on the loop. Loopback only: the target
must be a 127.0.0.0/8 or ::1 address.

Usage::

    with FaultProxy(server.port) as proxy:
        client = redis.Redis(port=proxy.port, socket_timeout=0.5)
        proxy.add_latency(50)      # +50 ms each way
        proxy.blackhole()          # requests and replies held: the client times out
        proxy.pass_through()       # held data flows again
        proxy.drop_replies(1)      # next request reaches the server, its reply never returns
        proxy.reset_all()          # RST every open connection
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

from faults.link import Link, Shared
from faults.mode import PASS, Direction, Mode

T = TypeVar("T")
CONTROL_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class ProxyStats:
    """Counters of one proxy since :meth:`FaultProxy.start`.

    Attributes:
        accepted: connections accepted.
        open_connections: connections open now.
        resets: connections closed by :meth:`FaultProxy.reset_all`.
        replies_dropped: replies dropped by :meth:`FaultProxy.drop_replies`.
        armed_drops: requests whose reply is still to be dropped.
    """

    accepted: int
    open_connections: int
    resets: int
    replies_dropped: int
    armed_drops: int


class FaultProxy:
    """Forwards connections on ``127.0.0.1:<port>`` to ``target_host:target_port``.

    Args:
        target_port: the target's TCP port.
        target_host: a loopback address (default ``127.0.0.1``).
        port: the port to listen on; 0 picks a free one (see :attr:`port` after start).

    Raises:
        ValueError: ``target_host`` is not a loopback address.
    """

    def __init__(self, target_port: int, *, target_host: str = "127.0.0.1", port: int = 0) -> None:
        if not ipaddress.ip_address(target_host).is_loopback:
            raise ValueError(f"target {target_host} is not a loopback address")
        self.target = (target_host, target_port)
        self.port = port
        self._shared = Shared()
        self._links: set[Link] = set()
        self._accepted = 0
        self._resets = 0
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0`` of the proxy."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def mode(self) -> Mode:
        """The standing faults."""
        return self._shared.mode

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Start the loop thread and listen; returns self."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        self._call(self._init)
        return self

    async def _init(self) -> None:
        self._shared.flowing = {d: asyncio.Event() for d in Direction}
        for event in self._shared.flowing.values():
            event.set()
        await self._listen()

    def stop(self) -> None:
        """Close the listener, RST every open connection, stop and join the loop thread."""
        if self._loop is None or self._thread is None:
            return
        try:
            self._call(self._shutdown)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=CONTROL_TIMEOUT_S)
            self._loop.close()
            self._loop = self._thread = None

    async def _shutdown(self) -> None:
        await self._unlisten()
        links = list(self._links)
        for link in links:
            link.reset()
        tasks = [link.task for link in links if link.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self.stop()

    # -- faults -----------------------------------------------------------------------------

    def set_mode(self, mode: Mode) -> None:
        """Make ``mode`` the standing faults (replacing the previous ones)."""
        self._call(lambda: self._apply(mode))

    def pass_through(self) -> None:
        """No faults: forward both ways at once; held data flows; listen again if refusing."""
        self.set_mode(PASS)

    def add_latency(self, up_ms: float, down_ms: float | None = None) -> None:
        """Delay every chunk by ``up_ms`` toward the server and ``down_ms`` (default
        ``up_ms``) toward the client; a round trip gains ``up_ms + down_ms``. Applies to data
        arriving from now on."""
        self.set_mode(
            Mode(latency_up_ms=up_ms, latency_down_ms=up_ms if down_ms is None else down_ms)
        )

    def blackhole(self) -> None:
        """Forward and send nothing either way, no FIN, no RST: clients time out. New
        connections are accepted (the kernel completes the handshake) but not connected to
        the target. Data is held, and flows again at the next :meth:`pass_through`."""
        self.set_mode(Mode(hold_up=True, hold_down=True))

    def half_open(self, direction: Direction | str = Direction.DOWN) -> None:
        """Stop one direction: ``"down"`` (default) lets requests reach the server but holds
        every reply; ``"up"`` holds requests. The other direction keeps flowing."""
        held = Direction(direction)
        self.set_mode(Mode(hold_up=held is Direction.UP, hold_down=held is Direction.DOWN))

    def refuse(self) -> None:
        """Close the listening socket: new connections get ECONNREFUSED; open ones carry on."""
        self.set_mode(Mode(refuse=True))

    def reset_all(self) -> int:
        """RST every open connection now (both its client and its target side); returns how
        many. The standing mode is unchanged, so new connections work."""

        async def reset() -> int:
            links = list(self._links)
            for link in links:
                link.reset()
            await asyncio.gather(*(lk.task for lk in links if lk.task), return_exceptions=True)
            self._resets += len(links)
            return len(links)

        return self._call(reset)

    def drop_replies(self, count: int = 1) -> None:
        """For each of the next ``count`` requests (chunks sent toward the server, on any
        connection, a new connection's handshake included), forward the request, then RST
        the connection when the reply arrives, without delivering it: the server executed
        the command, the client cannot know ("did my write land?")."""

        async def arm() -> None:
            self._shared.armed_drops += count

        self._call(arm)

    def stats(self) -> ProxyStats:
        """The counters now."""

        async def read() -> ProxyStats:
            return ProxyStats(
                accepted=self._accepted,
                open_connections=len(self._links),
                resets=self._resets,
                replies_dropped=self._shared.replies_dropped,
                armed_drops=self._shared.armed_drops,
            )

        return self._call(read)

    # -- loop side --------------------------------------------------------------------------

    async def _apply(self, mode: Mode) -> None:
        self._shared.mode = mode
        for direction, event in self._shared.flowing.items():
            if mode.holds(direction):
                event.clear()
            else:
                event.set()
        if mode.refuse:
            await self._unlisten()
        elif self._server is None:
            await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _unlisten(self) -> None:
        # close() shuts the listening socket at once; wait_closed() is not awaited because
        # from Python 3.12 on it also waits for every accepted connection to end.
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = Link(self._shared, (reader, writer), self.target)
        self._accepted += 1
        self._links.add(link)
        try:
            await link.run()
        finally:
            self._links.discard(link)

    def _call(self, fn: Callable[[], Coroutine[object, object, T]]) -> T:
        """Run the coroutine ``fn()`` on the loop thread and return its result. Raises what it
        raised, or ``TimeoutError`` after 10 s."""
        if self._loop is None:
            raise RuntimeError("the proxy is not running: call start() first")
        return asyncio.run_coroutine_threadsafe(fn(), self._loop).result(CONTROL_TIMEOUT_S)
