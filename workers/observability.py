"""A worker's metrics, state sampler and ``--http-port`` server, wired to its runner.

The worker CLI calls :func:`metric_readers` before :func:`ingest.otel_setup.configure_otel`
(so ``/metrics`` gets a Prometheus reader), then :meth:`WorkerObservability.start` once the
runner exists, and :meth:`WorkerObservability.close` at exit.

What it costs the worker: nothing per entry unless a meter provider is active. The counters
are observable instruments reading ``runner.stats`` when collected; the histograms are set as
``runner.hooks`` only when metrics are on. Redis-derived gauges (backlog, lag, pending, oldest
pending age, consumers, stream and dead-letter lengths) come from a daemon thread that reads
the stream's state every ``sample_interval_s`` seconds (default 5) with its own small client,
so neither a scrape nor the sampler touches the worker's event loop or connection pool. After a
failed sample, or once the last good one is older than :func:`stale_after_s`, those gauges
report nothing; ``ingest_worker_state_sample_age_seconds`` says how old the last good one is.

Probes:

* ``/livez`` is the worker's one liveness rule (:mod:`workers.liveness`, the systemd watchdog
  uses it too): it fails when a loop has not completed a step for ``--hung-after`` while Redis
  is reachable (a wedged loop) or every handler slot is stuck past ``--handler-timeout``; it
  stays OK while the worker is starting, while Redis is down (restarting the process would
  not help: readiness reports that) and while the read loop waits for a free handler slot.
* ``/readyz`` needs the worker to have joined its group, asks Redis directly (PING and
  XINFO GROUPS, 1 s timeouts) that it is reachable and the group exists, and then needs the
  worker's own last Redis command to have succeeded (after an outage its loops reconnect
  through a backoff of up to a few seconds).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from opentelemetry import metrics as otel_metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics.export import MetricReader
from prometheus_client import CollectorRegistry

from ingest import metrics, state_gauges
from ingest.connection import CONNECTION_ERRORS, probe_client
from ingest.errors import ConfigError
from ingest.groupstate import read_state
from ingest.settings import RedisSettings
from workers.http import Check, HttpServer, redis_ready_check, start_http_server

if TYPE_CHECKING:
    from workers.runner import Runner
    from workers.settings import WorkerSettings

log = logging.getLogger(__name__)

SAMPLE_INTERVAL_S = 5.0
SAMPLE_TIMEOUT_S = 2.0
"""Socket and connect timeout of the sampler's client, seconds."""


def stale_after_s(interval_s: float) -> float:
    """Age at which a state sample is no longer served: two sampling intervals plus the time
    one sample may take (:data:`SAMPLE_TIMEOUT_S`), seconds (12 s at the default 5 s)."""
    return 2 * interval_s + SAMPLE_TIMEOUT_S


def metric_readers(settings: WorkerSettings) -> tuple[list[MetricReader], CollectorRegistry | None]:
    """A Prometheus reader on a fresh registry when ``--http-port`` is set, else nothing.

    Pass the readers to ``configure_otel(..., metric_readers=...)`` and the registry to
    :class:`WorkerObservability`.
    """
    if not settings.http_port:
        return [], None
    registry = CollectorRegistry()
    return [PrometheusMetricReader(registry=registry)], registry


class StateSampler:
    """Refreshes a :class:`~ingest.state_gauges.StateHolder` every ``interval_s`` in a daemon
    thread (XINFO and friends through :func:`ingest.groupstate.read_state`).

    A failed sample (Redis unreachable, any error) marks the holder failed, so the group and
    stream gauges report nothing until a sample succeeds again.
    """

    def __init__(
        self,
        redis_settings: RedisSettings,
        stream: str,
        group: str,
        holder: state_gauges.StateHolder,
        interval_s: float = SAMPLE_INTERVAL_S,
    ) -> None:
        self.holder = holder
        self._stream, self._group, self._interval_s = stream, group, interval_s
        self._client = probe_client(redis_settings, timeout_s=SAMPLE_TIMEOUT_S)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="state-sampler", daemon=True)

    def sample_once(self) -> None:
        """Read the state now; on an error mark the holder failed and log (rate-limited)."""
        try:
            state = read_state(self._client, self._stream, groups=(self._group,), consumers=False)
        except CONNECTION_ERRORS as exc:
            self.holder.failed()
            log.warning("sampling %s: Redis unreachable (%s)", self._stream, type(exc).__name__)
        except Exception:  # metrics must never take the worker down
            self.holder.failed()
            log.warning("sampling %s failed", self._stream, exc_info=True)
        else:
            self.holder.update(state)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample_once()
            self._stop.wait(self._interval_s)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close its client."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._client.close()


def live_check(runner: Runner) -> Check:
    """The ``/livez`` probe for ``runner``: its one liveness rule (:mod:`workers.liveness`),
    which the systemd watchdog uses too."""
    return runner.liveness.check


def ready_check(runner: Runner, redis_check: Check) -> Check:
    """The ``/readyz`` probe: joined, then ``redis_check`` (Redis reachable, group exists),
    then the worker's own loops reconnected (``health.connected``).

    The last step matters after an outage: Redis answers the probe's PING at once while the
    read loop may still sleep in its backoff for a few seconds; the worker is ready again only
    once one of its own Redis commands has succeeded.
    """
    health = runner.health

    def check() -> tuple[bool, str]:
        if not health.joined:
            return False, "starting: not yet joined the consumer group"
        ok, detail = redis_check()
        if ok and not health.connected:
            return False, "redis reachable; worker loops reconnecting (backoff)"
        return ok, detail

    return check


class WorkerObservability:
    """Metrics, sampler and HTTP server of one worker.

    Args:
        settings: the worker's settings (stream, group, ``http_port``, Redis).
        runner: the runner whose ``stats``, ``health`` and ``hooks`` are observed.
        registry: the Prometheus registry from :func:`metric_readers`, or ``None``.
        sample_interval_s: seconds between state samples.
        meter_provider: where metrics go; default the global one (set by ``configure_otel``).
    """

    def __init__(
        self,
        settings: WorkerSettings,
        runner: Runner,
        registry: CollectorRegistry | None,
        *,
        sample_interval_s: float = SAMPLE_INTERVAL_S,
        meter_provider: otel_metrics.MeterProvider | None = None,
    ) -> None:
        self.settings = settings
        self.meter_provider = meter_provider
        self.runner = runner
        self.registry = registry
        self.sample_interval_s = sample_interval_s
        self.sampler: StateSampler | None = None
        self.server: HttpServer | None = None

    def start(self) -> None:
        """Register metrics (when a meter provider is active), set the histogram hooks, start
        the sampler and, with ``--http-port``, the HTTP server.

        Raises:
            ConfigError: the HTTP port cannot be bound (in use, not permitted).
        """
        s, runner = self.settings, self.runner
        provider = self.meter_provider
        instruments = metrics.register_worker_metrics(
            runner.stats, stream=s.stream, group=s.group, meter_provider=provider
        )
        if instruments is not None:
            runner.hooks.handler_duration = instruments.handler_duration
            runner.hooks.end_to_end = instruments.end_to_end
            holder = state_gauges.StateHolder(
                stream=s.stream, group=s.group, max_age_s=stale_after_s(self.sample_interval_s)
            )
            state_gauges.register_state_gauges(holder, meter_provider=provider)
            self.sampler = StateSampler(s.redis, s.stream, s.group, holder, self.sample_interval_s)
            self.sampler.start()
        if s.http_port:
            try:
                self.server = start_http_server(
                    s.http_port,
                    live=live_check(runner),
                    ready=ready_check(runner, redis_ready_check(s.redis, s.stream, s.group)),
                    registry=self.registry,
                    host=s.http_host,
                    ready_fields={"tls": s.redis.tls_mode},
                )
            except OSError as exc:
                self.close()
                raise ConfigError(
                    f"--http-host / INGEST_HTTP_HOST = {s.http_host!r}, --http-port / "
                    f"INGEST_HTTP_PORT = {s.http_port}: {exc}"
                ) from None

    def close(self) -> None:
        """Stop the HTTP server and the sampler (idempotent)."""
        if self.server is not None:
            self.server.shutdown()
            self.server = None
        if self.sampler is not None:
            self.sampler.stop()
            self.sampler = None
