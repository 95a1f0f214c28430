"""Metric registration: observable counters read plain counters; names as Prometheus sees them."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ingest import metrics as m
from ingest import state_gauges as sg
from ingest.groupstate import GroupState, StreamState
from ingest.streams import EntryId


@dataclass
class FakeWorkerStats:
    read: int = 0
    acked: int = 0
    retried: int = 0
    failed_attempts: int = 0
    claimed: int = 0
    dead_lettered: int = 0
    lost: int = 0
    released: int = 0
    refused: int = 0
    timeouts: int = 0
    taken_over: int = 0
    groups_recreated: int = 0
    connection_errors: int = 0
    in_flight: int = 0
    held: int = 0
    abandoned: int = 0


@dataclass
class FakeProducerStats:
    produced: int = 0
    rejected: int = 0
    blocks: int = 0
    blocked_s: float = 0.0
    failovers: int = 0
    replica_waits: int = 0
    not_durable: int = 0


def _points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, object], object]]]:
    data = reader.get_metrics_data()
    out: dict[str, list[tuple[dict[str, object], object]]] = {}
    if data is None:  # nothing observed at all
        return out
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    if value is None:
                        value = (point.count, point.sum)  # type: ignore[union-attr]
                    out.setdefault(metric.name, []).append((dict(point.attributes or {}), value))
    return out


LABELS = {"stream": "s", "group": "workers"}


@dataclass
class FakeClock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


def _state(lag: int | None = 4, undelivered: int = 4) -> StreamState:
    group = GroupState(
        name="workers",
        pending=3,
        lag=lag,
        undelivered=undelivered,
        undelivered_source="redis" if lag is not None else "counted",
        last_delivered_id=EntryId("5-0"),
        entries_read=5,
        oldest_pending_id=EntryId("2-0"),
        oldest_pending_age_ms=1500,
        consumer_count=2,
    )
    return StreamState(
        stream="s", exists=True, time_ms=0, length=9, dead_letter_length=1, groups=(group,)
    )


def test_worker_counters_read_the_stats_object_at_collection_time():
    # Given: a worker's plain counters observed through a meter provider
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    stats = FakeWorkerStats()
    instruments = m.register_worker_metrics(stats, stream="s", group="g", meter_provider=provider)
    assert instruments is not None
    # When: the worker counts (plain attribute updates, no metric calls)
    stats.acked, stats.retried, stats.dead_lettered, stats.in_flight = 7, 2, 1, 3
    # Then: a collection reads the current values, with stream and group attributes
    points = _points(reader)
    assert points["ingest.worker.acked"] == [({"stream": "s", "group": "g"}, 7)]
    assert points["ingest.worker.retried"][0][1] == 2
    assert points["ingest.worker.dead_lettered"][0][1] == 1
    assert points["ingest.worker.in_flight"][0][1] == 3
    stats.acked = 9
    assert _points(reader)["ingest.worker.acked"][0][1] == 9


def test_histograms_record_seconds():
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    instruments = m.register_worker_metrics(
        FakeWorkerStats(), stream="s", group="g", meter_provider=provider
    )
    assert instruments is not None
    instruments.handler_duration(0.002, 10)
    instruments.end_to_end([0.001, 0.003, 0.010])
    points = _points(reader)
    assert points["ingest.worker.handler.duration"][0][1] == (1, 0.002)
    latency: tuple[int, float] = points["ingest.worker.end_to_end.latency"][0][1]  # type: ignore[assignment]
    assert latency[0] == 3
    assert abs(latency[1] - 0.014) < 1e-9


def test_end_to_end_latency_is_sampled_per_ack_round_trip():
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    instruments = m.register_worker_metrics(
        FakeWorkerStats(), stream="s", group="g", meter_provider=provider
    )
    assert instruments is not None
    instruments.end_to_end([0.5] * m.END_TO_END_SAMPLES)  # small batches: every entry
    instruments.end_to_end([1.0] * 500)  # a large one: an even spread of 16
    point: tuple[int, float] = _points(reader)["ingest.worker.end_to_end.latency"][0][1]  # type: ignore[assignment]
    assert point == (2 * m.END_TO_END_SAMPLES, m.END_TO_END_SAMPLES * 1.5)


def test_producer_counters():
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    stats = FakeProducerStats(produced=100, rejected=2, blocks=1, blocked_s=0.5)
    instruments = m.register_producer_metrics(stats, stream="s", meter_provider=provider)
    assert instruments is not None
    instruments.blocked(0.5)
    points = _points(reader)
    assert points["ingest.producer.produced"] == [({"stream": "s"}, 100)]
    assert points["ingest.producer.rejected"][0][1] == 2
    assert points["ingest.producer.backpressure.blocks"][0][1] == 1
    assert points["ingest.producer.backpressure.blocked"][0][1] == 0.5
    assert points["ingest.producer.backpressure.block.duration"][0][1] == (1, 0.5)


def test_nothing_is_registered_without_an_sdk_meter_provider():
    # The test process never installs a global meter provider: the API's proxy is in place.
    assert not m.meter_active()
    assert m.register_worker_metrics(FakeWorkerStats(), stream="s", group="g") is None
    assert m.register_producer_metrics(FakeProducerStats(), stream="s") is None
    assert sg.register_state_gauges(sg.StateHolder()) is False


def test_state_gauges_report_nothing_before_the_first_sample_then_the_sample():
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    clock = FakeClock()
    holder = sg.StateHolder(stream="s", group="workers", clock=clock)
    assert sg.register_state_gauges(holder, meter_provider=provider)
    clock.now += 3
    assert _points(reader) == {"ingest.worker.state_sample.age": [(LABELS, 3.0)]}
    holder.update(_state(lag=None, undelivered=6))
    points = _points(reader)
    assert points["ingest.group.backlog"] == [(LABELS, 9)]
    assert points["ingest.group.lag"] == [(LABELS, 6)]  # counted, not Redis' nil as 0
    assert points["ingest.group.pending"] == [(LABELS, 3)]
    assert points["ingest.group.oldest_pending_age"] == [(LABELS, 1.5)]
    assert points["ingest.group.consumers"] == [(LABELS, 2)]
    assert points["ingest.stream.length"] == [({"stream": "s"}, 9)]
    assert points["ingest.stream.dead_letter.length"] == [({"stream": "s"}, 1)]
    assert points["ingest.worker.state_sample.age"] == [(LABELS, 0.0)]


SAMPLED = {
    "ingest.group.backlog",
    "ingest.group.lag",
    "ingest.group.pending",
    "ingest.group.oldest_pending_age",
    "ingest.group.consumers",
    "ingest.stream.length",
    "ingest.stream.dead_letter.length",
}


def test_a_sample_older_than_max_age_is_not_served_but_its_age_is():
    # Given: a holder that serves samples up to 12 s old, sampled once
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    clock = FakeClock()
    holder = sg.StateHolder(stream="s", group="workers", max_age_s=12, clock=clock)
    sg.register_state_gauges(holder, meter_provider=provider)
    holder.update(_state())
    # When: 12 s pass, the sample is still served
    clock.now += 12
    assert set(_points(reader)) >= SAMPLED
    # When: 12.5 s pass without a new sample
    clock.now += 0.5
    points = _points(reader)
    # Then: no group or stream figure, only the age of the last good sample
    assert set(points) == {"ingest.worker.state_sample.age"}
    assert points["ingest.worker.state_sample.age"] == [(LABELS, 12.5)]
    # And: a new sample is served again
    holder.update(_state())
    assert set(_points(reader)) >= SAMPLED


def test_a_failed_sample_withdraws_the_gauges_at_once():
    clock = FakeClock()
    holder = sg.StateHolder(max_age_s=12, clock=clock)
    first = _state()
    holder.update(first)
    clock.now += 1
    holder.failed()
    assert holder.current() is None
    assert holder.state is first  # kept for inspection, not served
    assert holder.age_s() == 1.0
    holder.update(_state())
    assert holder.current() is not None
    assert holder.age_s() == 0.0


def test_prometheus_names_follow_conventions_and_match_the_exporter():
    # Given: every metric registered on a Prometheus reader
    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    worker = m.register_worker_metrics(
        FakeWorkerStats(), stream="s", group="g", meter_provider=provider
    )
    producer = m.register_producer_metrics(FakeProducerStats(), stream="s", meter_provider=provider)
    assert worker is not None
    assert producer is not None
    worker.handler_duration(0.01, 1)
    worker.end_to_end([0.01])
    producer.blocked(1.0)
    holder = sg.StateHolder()
    holder.update(_state())
    sg.register_state_gauges(holder, meter_provider=provider)
    # When: scraped and parsed with Prometheus' own text parser
    text = generate_latest(registry).decode()
    samples = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    # Then: each metric appears under the name the docs give
    for spec in m.ALL:
        name = spec.prometheus_name
        if spec.kind == "histogram":
            assert name.endswith("_seconds")
            assert f"{name}_bucket" in samples, name
        else:
            assert name in samples, name
        if spec.kind == "counter":
            assert name.endswith("_total")
        if spec.unit == "s":
            assert "_seconds" in name
    assert len({spec.prometheus_name for spec in m.ALL}) == len(m.ALL)
    provider.shutdown()
