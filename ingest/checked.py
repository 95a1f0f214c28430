"""Redis clients that tell configuration errors and refusals apart from outages.

Refused credentials, TLS failures and non-Redis peers are caught in the handshake
(:mod:`ingest.handshake`). These clients also turn an ACL denial of any command, also one a
Function runs, into :class:`~ingest.permissions.PermissionDenied`, and a non-Redis reply into
:class:`~ingest.handshake.NotRedis`: configuration errors, raised at once (CLI exit 2).

A refusal of the command is a wait (:mod:`ingest.refusals`: ``LOADING``, ``NOREPLICAS``,
``READONLY``, ``BUSY`` ...): a client given a :class:`WaitPolicy` sends the command again with
capped backoff until it is accepted, dropping its connections first for the ones that need a
reconnect, for up to the policy's budget; one log line when the wait starts and one when it
ends; then :class:`~ingest.errors.Refused`. Such a refusal means the command did not run, so
sending it again is safe for any command. Pipelines are not re-sent (part of one may have run).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio

from ingest import permissions
from ingest.errors import ConfigError, Refused
from ingest.handshake import not_redis
from ingest.refusals import Action, Backoff, Budget, Refusal, classify, describe
from ingest.settings import redact_url

log = logging.getLogger(__name__)


def _user(client: Any) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return str(kwargs.get("username") or "default")


def checked_error(exc: Exception, args: tuple[Any, ...], client: Any) -> Exception:
    """The error ``exc`` (raised by ``client`` running ``args``) stands for: a
    :class:`~ingest.permissions.PermissionDenied` for an ACL denial, :class:`NotRedis` for a peer
    that is not Redis, the :class:`~ingest.errors.ConfigError` a connection error wraps, else
    ``exc`` itself. For code that sends commands past :class:`CheckedRedis` (e.g. without
    redis-py's re-send)."""
    # redis-py's asyncio connection wraps any error of connecting (our TlsError too) in a
    # ConnectionError, which would be retried as an outage: unwrap a configuration error.
    if isinstance(exc, redis.ConnectionError) and isinstance(exc.__cause__, ConfigError):
        return exc.__cause__
    denied = permissions.denial(exc, args, _user(client))
    if denied is not None:
        return denied
    if isinstance(exc, redis.exceptions.InvalidResponse):
        where = getattr(client, "safe_url", None) or redact_url(
            str(client.connection_pool.connection_kwargs.get("host"))
        )
        return not_redis(where, exc)
    return exc


@dataclass(frozen=True, slots=True)
class WaitPolicy:
    """How long a client waits out refusals (:mod:`ingest.refusals`), per budget.

    Attributes:
        where: the redacted URL, for log lines and errors.
        outage_s: seconds for ``outage`` refusals (``LOADING``, ``READONLY`` ...):
            ``--connect-timeout``.
        block_s: seconds for ``block`` refusals (``NOREPLICAS``, ``OOM``): ``--max-block`` for
            the producer, else ``--connect-timeout``.
        sleep, clock: injected (``time.sleep``, ``time.monotonic``); an asyncio client
            awaits ``asyncio.sleep`` instead of ``sleep``.
    """

    where: str
    outage_s: float
    block_s: float
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def budget_s(self, budget: Budget) -> float:
        """The seconds allowed for ``budget``."""
        return self.block_s if budget is Budget.BLOCK else self.outage_s


class RefusalEpisode:
    """One command's wait through refusals: logs its start and end, picks each step.

    Args:
        policy: the budgets.
        command: the command's name, for the log lines.
    """

    def __init__(self, policy: WaitPolicy, command: str) -> None:
        self.policy, self.command = policy, command
        self.code = ""
        self._backoff: Backoff | None = None

    def next_wait(self, refusal: Refusal, exc: BaseException) -> float:
        """Log a new refusal kind, and return the wait before the next attempt, seconds.

        Raises:
            Refused: the budget of ``refusal`` is spent.
        """
        policy = self.policy
        if self._backoff is None:
            self._backoff = Backoff(policy.budget_s(refusal.budget), clock=policy.clock)
        if refusal.code != self.code:
            self.code = refusal.code
            log.warning(
                "Redis at %s refused %s: %s; %s and sending it again for up to %g s",
                policy.where,
                self.command,
                describe(refusal),
                "reconnecting" if refusal.action is Action.RECONNECT else "waiting",
                self._backoff.budget_s,
            )
        wait = self._backoff.next_wait()
        if wait is None:
            raise Refused(
                f"Redis at {policy.where} refused {self.command} for "
                f"{self._backoff.elapsed_s:.1f} s: {describe(refusal)}: {exc}",
                code=refusal.code,
                budget=refusal.budget.value,
                waited_s=self._backoff.elapsed_s,
            ) from None
        return wait

    def ended(self) -> None:
        """Log that the command was accepted (when it had been refused)."""
        if self._backoff is not None:
            log.info(
                "Redis at %s accepted %s after %.1f s of %s",
                self.policy.where,
                self.command,
                self._backoff.elapsed_s,
                self.code,
            )


_CHECKED = (redis.ResponseError, redis.exceptions.InvalidResponse, redis.ConnectionError)


def _step(
    client: Any, exc: Exception, args: tuple[Any, ...], episode: RefusalEpisode | None
) -> tuple[RefusalEpisode, float, bool]:
    """After ``exc`` from ``client`` running ``args``: raise what it stands for unless it is
    a refusal the client waits out; else return the episode, the wait (seconds) and whether
    to reconnect first."""
    checked = checked_error(exc, args, client)
    if checked is not exc:
        raise checked from None
    policy: WaitPolicy | None = client.wait_policy
    found = classify(exc) if policy is not None else None
    if found is None or policy is None:
        raise exc
    episode = episode or RefusalEpisode(policy, str(args[0]) if args else "?")
    return episode, episode.next_wait(found, exc), found.action is Action.RECONNECT


class CheckedRedis(redis.Redis):
    """``redis.Redis`` whose ACL denials (also in pipelines) raise
    :class:`~ingest.permissions.PermissionDenied`, whose non-Redis peers :class:`NotRedis`,
    and which waits out refusals when :attr:`wait_policy` is set (see the module docstring).

    Attributes:
        wait_policy: ``None`` (default): refusals are raised as they come.
        safe_url: the redacted URL it was built for ("" when unknown).
    """

    wait_policy: WaitPolicy | None = None
    safe_url: str = ""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        episode: RefusalEpisode | None = None
        while True:
            try:
                reply = super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
            except _CHECKED as exc:
                episode, wait, reconnect = _step(self, exc, args, episode)
                if reconnect:  # the connections lead to a replica: resolve the primary again
                    self.connection_pool.disconnect()
                episode.policy.sleep(wait)
                continue
            if episode is not None:
                episode.ended()
            return reply

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        pipe.__class__ = _checked_pipeline(type(pipe))
        return pipe

    def close(self) -> None:
        """Close the client, and the connections to the sentinels of a Sentinel client (the
        client owns its ``Sentinel``: :mod:`ingest.sentinel`)."""
        super().close()
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        if manager is not None:
            manager.close()


class CheckedAsyncRedis(redis.asyncio.Redis):
    """:class:`CheckedRedis` for asyncio (waits with ``asyncio.sleep``)."""

    wait_policy: WaitPolicy | None = None
    safe_url: str = ""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        episode: RefusalEpisode | None = None
        while True:
            try:
                reply = await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
            except _CHECKED as exc:
                episode, wait, reconnect = _step(self, exc, args, episode)
                if reconnect:
                    await self.connection_pool.disconnect()
                await asyncio.sleep(wait)
                continue
            if episode is not None:
                episode.ended()
            return reply

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        pipe.__class__ = _checked_pipeline(type(pipe))
        return pipe

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        """Close the client, and the connections to the sentinels of a Sentinel client."""
        await super().aclose(close_connection_pool)
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        if manager is not None:
            await manager.aclose()


_PIPELINES: dict[Any, type] = {}


def _pipeline_error(pipe: Any, exc: Exception) -> Exception:
    return checked_error(exc, (), pipe)


def _checked_pipeline(base: Any) -> type:
    """A subclass of redis-py's (sync or async) pipeline class whose ``execute`` translates
    errors like :class:`CheckedRedis` (the pipeline's error text names the command)."""
    found = _PIPELINES.get(base)
    if found is not None:
        return found
    if inspect.iscoroutinefunction(base.execute):

        async def execute_async(self: Any, raise_on_error: bool = True) -> Any:
            try:
                return await base.execute(self, raise_on_error)
            except _CHECKED as exc:
                checked = _pipeline_error(self, exc)
                if checked is exc:
                    raise
                raise checked from None

        found = type(f"Checked{base.__name__}", (base,), {"execute": execute_async})
    else:

        def execute(self: Any, raise_on_error: bool = True) -> Any:
            try:
                return base.execute(self, raise_on_error)
            except _CHECKED as exc:
                checked = _pipeline_error(self, exc)
                if checked is exc:
                    raise
                raise checked from None

        found = type(f"Checked{base.__name__}", (base,), {"execute": execute})
    _PIPELINES[base] = found
    return found
