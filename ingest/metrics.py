"""Metric names in one place, and their registration on an OpenTelemetry meter.

Cost model. Producers and workers keep plain integer counters (``producer.stats``,
``runner.stats``); the counters and gauges here are *observable* instruments whose callbacks
read those objects when a reader collects (a Prometheus scrape, an OTLP export period), so an
event costs nothing extra. Histograms are recorded by the caller through the small
``*Instruments`` objects below, which exist only when a meter provider is active (a CLI set
one up because ``--http-port`` or ``OTEL_METRICS_EXPORTER`` asked for metrics); otherwise the
registration functions return ``None`` and callers leave their hooks unset.

Gauges about Redis state (backlog, lag, pending, oldest pending age, consumers, stream and
dead-letter length) need Redis round trips, so they read an
:class:`ingest.state_gauges.StateHolder` that the worker's sampler thread refreshes every few
seconds (see ``workers.observability``), never Redis itself from inside a scrape.

Names follow the OpenTelemetry style (dotted, unit separate); exported to Prometheus they
become ``ingest_worker_acked_total``, ``ingest_worker_handler_duration_seconds`` and so on
(:attr:`MetricSpec.prometheus_name`). Attributes: ``stream`` and ``group``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from ingest.telemetry import get_meter

STREAM = "stream"
GROUP = "group"

SECONDS_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0,
)  # fmt: skip
"""Histogram bucket bounds in seconds (the SDK's default bounds assume milliseconds)."""

END_TO_END_SAMPLES = 16
"""Most end-to-end latencies recorded per acknowledgement round trip (see
:meth:`WorkerInstruments.end_to_end`)."""


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric: OpenTelemetry name, unit (UCUM: ``s``, ``{entry}``), kind, meaning."""

    name: str
    unit: str
    kind: str  # counter | gauge | histogram
    description: str

    @property
    def prometheus_name(self) -> str:
        """The name the Prometheus exporter gives it (``_seconds`` unit, ``_total`` counters;
        histograms add ``_bucket``/``_sum``/``_count``)."""
        base = self.name.replace(".", "_")
        if self.unit == "s":
            base += "_seconds"
        return base + "_total" if self.kind == "counter" else base


def _c(name: str, description: str, unit: str = "{entry}") -> MetricSpec:
    return MetricSpec(name, unit, "counter", description)


def _g(name: str, description: str, unit: str = "{entry}") -> MetricSpec:
    return MetricSpec(name, unit, "gauge", description)


def _h(name: str, description: str) -> MetricSpec:
    return MetricSpec(name, "s", "histogram", description)


# ---- producer -------------------------------------------------------------------------------
PRODUCED = _c("ingest.producer.produced", "Events appended to the stream")
REJECTED = _c("ingest.producer.rejected", "Input records rejected (malformed or too large)")
BACKPRESSURE_BLOCKS = _c(
    "ingest.producer.backpressure.blocks", "Times the producer paused on backpressure", "{block}"
)
BLOCKED_TIME = _c(
    "ingest.producer.backpressure.blocked", "Time spent paused on backpressure in all", "s"
)
BLOCK_DURATION = _h(
    "ingest.producer.backpressure.block.duration", "Length of each backpressure pause"
)
FAILOVERS = _c(
    "ingest.producer.failovers", "Sentinel failovers the producer followed", "{failover}"
)
REPLICA_WAITS = _c(
    "ingest.producer.replica_waits",
    "NOREPLICAS refusals waited out (fewer replicas in sync than min-replicas-to-write)",
    "{refusal}",
)
NOT_DURABLE = _c(
    "ingest.producer.not_durable",
    "Events of a batch fewer replicas than --min-replicas acknowledged (not counted produced)",
)

# ---- worker ---------------------------------------------------------------------------------
READ = _c("ingest.worker.read", "Entries read with XREADGROUP (own pending history included)")
ACKED = _c("ingest.worker.acked", "Entries acknowledged after their handler succeeded")
RETRIED = _c("ingest.worker.retried", "In-process handler retries (one per extra attempt)")
FAILED = _c(
    "ingest.worker.failed", "Deliveries that failed after their retries (entry stays pending)"
)
CLAIMED = _c("ingest.worker.claimed", "Entries claimed from idle consumers (XAUTOCLAIM)")
DEAD_LETTERED = _c("ingest.worker.dead_lettered", "Entries moved to the dead-letter stream")
LOST = _c("ingest.worker.lost", "Entries deleted or trimmed while pending")
RELEASED = _c("ingest.worker.released", "Entries handed back at shutdown for others to claim")
REFUSED = _c(
    "ingest.worker.refused",
    "Entries dead-lettered before any handler ran (decode, too_large, crashed, max-deliveries)",
)
TIMEOUTS = _c("ingest.worker.timeouts", "Deliveries whose handler ran past --handler-timeout")
TAKEN_OVER = _c(
    "ingest.worker.taken_over", "Entries claimed at once from dead consumers (liveness expired)"
)
GROUPS_RECREATED = _c(
    "ingest.worker.group_recreated", "Times the consumer group vanished and was recreated", "1"
)
CONNECTION_ERRORS = _c("ingest.worker.connection_errors", "Redis connection errors", "{error}")
IN_FLIGHT = _g("ingest.worker.in_flight", "Entries whose handler is running now")
HELD = _g("ingest.worker.held", "Entries this worker holds (read, running or awaiting ack)")
ABANDONED = _g(
    "ingest.worker.abandoned",
    "Handler calls past --handler-timeout still running (a sync one cannot be stopped)",
    "{call}",
)
HANDLER_DURATION = _h("ingest.worker.handler.duration", "Duration of each handler call")
END_TO_END = _h(
    "ingest.worker.end_to_end.latency",
    "From produced_at_ms to the acknowledgement (at most 16 entries per ack round trip)",
)

# ---- stream and group state (sampled) -------------------------------------------------------
BACKLOG = _g("ingest.group.backlog", "Entries the group has not acknowledged (lag + pending)")
LAG = _g("ingest.group.lag", "Entries not yet delivered to the group")
PENDING = _g("ingest.group.pending", "Entries delivered and not acknowledged (PEL size)")
OLDEST_PENDING_AGE = _g(
    "ingest.group.oldest_pending_age",
    "Time since the oldest pending entry was added to the stream (from its entry ID, not its "
    "last delivery: backlog wait included)",
    "s",
)
CONSUMERS = _g("ingest.group.consumers", "Consumers in the group", "{consumer}")
STREAM_LENGTH = _g("ingest.stream.length", "Entries in the stream (XLEN)")
DEAD_LETTER_LENGTH = _g("ingest.stream.dead_letter.length", "Entries in the dead-letter stream")
SAMPLE_AGE = _g(
    "ingest.worker.state_sample.age",
    "Seconds since the stream and group gauges were last sampled successfully",
    "s",
)

ALL: tuple[MetricSpec, ...] = tuple(
    v for v in list(globals().values()) if isinstance(v, MetricSpec)
)
"""Every metric, for the docs and for tests."""

PRODUCER_COUNTERS: tuple[tuple[MetricSpec, str], ...] = (
    (PRODUCED, "produced"),
    (REJECTED, "rejected"),
    (BACKPRESSURE_BLOCKS, "blocks"),
    (BLOCKED_TIME, "blocked_s"),
    (FAILOVERS, "failovers"),
    (REPLICA_WAITS, "replica_waits"),
    (NOT_DURABLE, "not_durable"),
)
"""Producer counter -> attribute of the producer's stats object."""

WORKER_COUNTERS: tuple[tuple[MetricSpec, str], ...] = (
    (READ, "read"),
    (ACKED, "acked"),
    (RETRIED, "retried"),
    (FAILED, "failed_attempts"),
    (CLAIMED, "claimed"),
    (DEAD_LETTERED, "dead_lettered"),
    (LOST, "lost"),
    (RELEASED, "released"),
    (REFUSED, "refused"),
    (TIMEOUTS, "timeouts"),
    (TAKEN_OVER, "taken_over"),
    (GROUPS_RECREATED, "groups_recreated"),
    (CONNECTION_ERRORS, "connection_errors"),
)
"""Worker counter -> attribute of the worker's stats object."""

WORKER_GAUGES: tuple[tuple[MetricSpec, str], ...] = (
    (IN_FLIGHT, "in_flight"),
    (HELD, "held"),
    (ABANDONED, "abandoned"),
)


def meter_active(provider: metrics.MeterProvider | None = None) -> bool:
    """``True`` when ``provider`` (default: the global one) is an SDK meter provider, i.e.
    something will read what is recorded."""
    from opentelemetry.sdk.metrics import MeterProvider

    current = provider if provider is not None else metrics.get_meter_provider()
    return isinstance(current, MeterProvider)


def _reader(stats: object, attribute: str) -> Callable[[], float]:
    def read() -> float:
        value: float = getattr(stats, attribute)  # ints stay ints (OTLP as_int)
        return value

    return read


def observe(
    meter: metrics.Meter,
    spec: MetricSpec,
    read: Callable[[], float],
    attributes: dict[str, str],
) -> None:
    """Register ``spec`` as an observable counter or gauge whose value is ``read()``."""

    def callback(_options: CallbackOptions) -> Iterator[Observation]:
        yield Observation(read(), attributes)

    if spec.kind == "counter":
        meter.create_observable_counter(spec.name, [callback], spec.unit, spec.description)
    else:
        meter.create_observable_gauge(spec.name, [callback], spec.unit, spec.description)


def _histogram(meter: metrics.Meter, spec: MetricSpec) -> metrics.Histogram:
    return meter.create_histogram(
        spec.name,
        unit=spec.unit,
        description=spec.description,
        explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
    )


class ProducerInstruments:
    """The producer's histogram: call :meth:`blocked` once per backpressure pause."""

    def __init__(self, meter: metrics.Meter, attributes: dict[str, str]) -> None:
        self._blocked = _histogram(meter, BLOCK_DURATION)
        self._attributes = attributes

    def blocked(self, seconds: float) -> None:
        """Record one pause of ``seconds``."""
        self._blocked.record(seconds, self._attributes)


class WorkerInstruments:
    """The worker's histograms, with the signatures of ``workers.stats.Hooks``."""

    def __init__(self, meter: metrics.Meter, attributes: dict[str, str]) -> None:
        self._handler = _histogram(meter, HANDLER_DURATION)
        self._end_to_end = _histogram(meter, END_TO_END)
        self._attributes = attributes

    def handler_duration(self, seconds: float, entries: int) -> None:
        """Record one handler call of ``seconds`` (covering ``entries`` events)."""
        self._handler.record(seconds, self._attributes)

    def end_to_end(self, latencies: Sequence[float]) -> None:
        """Record latencies in seconds of one XACK round trip's entries: all of them up to
        :data:`END_TO_END_SAMPLES` per call, else that many spread evenly over the batch.

        One SDK ``record`` costs several microseconds, as much as the rest of an entry's work
        in the worker; sampling bounds it per round trip, so at high rates (large ack
        batches) it stays below a microsecond per entry while the distribution stays
        representative. Counts come from ``ingest_worker_acked_total``, not from this
        histogram's ``_count``.
        """
        record, attributes = self._end_to_end.record, self._attributes
        step = -(-len(latencies) // END_TO_END_SAMPLES)  # ceiling division
        for seconds in latencies[::step] if step > 1 else latencies:
            record(seconds, attributes)


def register_producer_metrics(
    stats: object, *, stream: str, meter_provider: metrics.MeterProvider | None = None
) -> ProducerInstruments | None:
    """Observe the producer's counters (:data:`PRODUCER_COUNTERS` attributes of ``stats``).

    Returns the histogram recorder, or ``None`` (nothing registered) when no meter provider
    is active.
    """
    if not meter_active(meter_provider):
        return None
    meter, attributes = get_meter(meter_provider), {STREAM: stream}
    for spec, attribute in PRODUCER_COUNTERS:
        if hasattr(stats, attribute):
            observe(meter, spec, _reader(stats, attribute), attributes)
    return ProducerInstruments(meter, attributes)


def register_worker_metrics(
    stats: object,
    *,
    stream: str,
    group: str,
    meter_provider: metrics.MeterProvider | None = None,
) -> WorkerInstruments | None:
    """Observe the worker's counters and gauges (:data:`WORKER_COUNTERS`, :data:`WORKER_GAUGES`
    attributes of ``stats``); return the histogram recorder, or ``None`` when no meter provider
    is active."""
    if not meter_active(meter_provider):
        return None
    meter, attributes = get_meter(meter_provider), {STREAM: stream, GROUP: group}
    for spec, attribute in (*WORKER_COUNTERS, *WORKER_GAUGES):
        if hasattr(stats, attribute):
            observe(meter, spec, _reader(stats, attribute), attributes)
    return WorkerInstruments(meter, attributes)
