"""Capped exponential backoff with jitter for the worker's loops, with a bounded log rate."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from workers.wording import plural


class LoopBackoff:
    """Waits between failed steps of one loop: ``base`` doubling up to ``cap`` seconds, with
    full jitter in the upper half. Logs the first error, then at most one line (with the count
    since) every ``log_every_s`` seconds, so an outage does not flood the log.

    Args:
        name: the loop's name for log lines.
        logger: where to log.
        sleep: awaitable sleep (tests inject one).
    """

    def __init__(
        self,
        name: str,
        logger: logging.Logger,
        *,
        base_s: float = 0.1,
        cap_s: float = 5.0,
        log_every_s: float = 10.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.name = name
        self.log = logger
        self.base_s = base_s
        self.cap_s = cap_s
        self.log_every_s = log_every_s
        self.sleep = sleep
        self.delay_s = base_s
        self.failures = 0
        self._suppressed = 0
        self._last_log = -float("inf")

    async def failed(self, exc: BaseException) -> None:
        """Record a failure, maybe log it, and wait the current delay (then grow it)."""
        self.failures += 1
        now = time.monotonic()
        if now - self._last_log >= self.log_every_s:
            extra = f" ({self._suppressed} more since the last report)" if self._suppressed else ""
            self.log.warning("%s: %s: %s; retrying%s", self.name, type(exc).__name__, exc, extra)
            self._last_log = now
            self._suppressed = 0
        else:
            self._suppressed += 1
        delay = self.delay_s / 2 + random.uniform(0, self.delay_s / 2)
        self.delay_s = min(self.cap_s, self.delay_s * 2)
        await self.sleep(delay)

    def succeeded(self) -> None:
        """Reset after a step that worked; logs recovery once after failures."""
        if self.failures:
            self.log.warning(
                "%s: recovered after %s",
                self.name,
                plural(self.failures, "failed attempt"),
            )
        self.failures = 0
        self._suppressed = 0
        self._last_log = -float("inf")
        self.delay_s = self.base_s
