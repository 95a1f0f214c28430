"""``--trace-spans batch`` (batch handlers and sinks): deliveries sharing a producer span share
one process span; single-event spans carry the same list attributes."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from ingest import telemetry
from ingest.codec import Event, encode
from ingest.streams import EntryId
from workers.delivery import Delivery, from_fields
from workers.tracing import DeliveryTracer


def deliveries(provider: TracerProvider, n: int, prefix: str) -> list[Delivery]:
    """``n`` deliveries whose entries carry the context of one producer span."""
    producer_span = provider.get_tracer("t").start_span("ingest.produce")
    carrier: dict[str, str] = {}
    telemetry.inject_context(carrier, trace.set_span_in_context(producer_span))
    producer_span.end()
    out = []
    for i in range(n):
        fields = encode(Event(f"{prefix}{i}", {"i": i}), trace=carrier)
        out.append(from_fields(EntryId(f"{i + 1}-0"), fields))
    return out


def setup() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def process_spans(exporter: InMemorySpanExporter) -> list[Any]:
    return [s for s in exporter.get_finished_spans() if s.name.startswith("process")]


def test_batch_mode_shares_one_span_per_producer_context_and_ends_it_with_the_last():
    # Given: a handler batch of 5 entries from one producer batch and 1 from another
    provider, exporter = setup()
    tracer = DeliveryTracer("s", "g", "c", provider, per_batch=True)
    batch = deliveries(provider, 5, "a") + deliveries(provider, 1, "b")

    # When: their spans start and all but one of the shared group end
    tracer.start(batch)
    for d in batch[:4] + batch[5:]:
        DeliveryTracer.end(d, "acked")

    # Then: only the single's span is finished; the shared one waits for its last delivery
    assert [s.attributes[telemetry.INGEST_EVENT_ID] for s in process_spans(exporter)] == ["b0"]
    DeliveryTracer.end(batch[4], "dead-lettered", ValueError("bad"))
    spans = process_spans(exporter)
    assert len(spans) == 2
    shared = spans[1]
    assert shared.attributes[telemetry.MESSAGING_BATCH_MESSAGE_COUNT] == 5
    assert list(shared.attributes["ingest.event_ids"]) == [f"a{i}" for i in range(5)]
    assert list(shared.attributes["ingest.entry_ids"]) == [f"{i}-0" for i in range(1, 6)]
    assert shared.attributes["ingest.outcome"] == "dead-lettered"
    assert shared.status.status_code is StatusCode.ERROR
    dead = [e for e in shared.events if e.name == "dead-lettered"]
    assert [e.attributes[telemetry.INGEST_EVENT_ID] for e in dead] == ["a4"]
    # and it continues the producer's trace
    producer: Any = next(s for s in exporter.get_finished_spans() if s.name == "ingest.produce")
    assert shared.parent.span_id == producer.context.span_id
    assert shared.context.trace_id == producer.context.trace_id


def test_event_mode_makes_one_span_per_delivery():
    provider, exporter = setup()
    tracer = DeliveryTracer("s", "g", "c", provider)
    batch = deliveries(provider, 5, "a")
    tracer.start(batch)
    for d in batch:
        DeliveryTracer.end(d, "acked")
    spans = process_spans(exporter)
    assert [s.attributes[telemetry.INGEST_EVENT_ID] for s in spans] == [f"a{i}" for i in range(5)]
    assert all(s.attributes["ingest.outcome"] == "acked" for s in spans)


def test_retries_name_the_event_on_a_shared_span():
    provider, exporter = setup()
    tracer = DeliveryTracer("s", "g", "c", provider, per_batch=True)
    batch = deliveries(provider, 3, "a")
    tracer.start(batch)
    DeliveryTracer.retry(batch[1], 1, TimeoutError("slow"), 0.1)
    for d in batch:
        DeliveryTracer.end(d, "acked")
    (shared,) = process_spans(exporter)
    (retry,) = [e for e in shared.events if e.name == "retry"]
    assert retry.attributes[telemetry.INGEST_EVENT_ID] == "a1"
    assert shared.attributes["ingest.outcome"] == "acked"


def test_batch_mode_gives_single_event_spans_the_list_attributes_too():
    # Given: batch mode, a handler batch of 2 sharing a producer span plus 1 from another,
    # and a per-event handler's delivery (always one per call)
    provider, exporter = setup()
    tracer = DeliveryTracer("s", "g", "c", provider, per_batch=True)
    batch = deliveries(provider, 2, "a") + deliveries(provider, 1, "b")
    [alone] = deliveries(provider, 1, "p")

    # When: their spans start and end
    tracer.start(batch)
    tracer.start([alone])
    for d in [*batch, alone]:
        DeliveryTracer.end(d, "acked")

    # Then: one search by ingest.event_ids finds every event, shared span or not
    spans = process_spans(exporter)
    found = {e: s for s in spans for e in s.attributes["ingest.event_ids"]}
    assert sorted(found) == ["a0", "a1", "b0", "p0"]
    for event_id in ("b0", "p0"):
        single = found[event_id]
        assert single.attributes[telemetry.MESSAGING_BATCH_MESSAGE_COUNT] == 1
        assert list(single.attributes["ingest.entry_ids"]) == ["1-0"]
        assert single.attributes[telemetry.MESSAGING_MESSAGE_ID] == "1-0"
        assert single.attributes[telemetry.INGEST_EVENT_ID] == event_id


def test_event_mode_spans_carry_no_list_attributes():
    provider, exporter = setup()
    tracer = DeliveryTracer("s", "g", "c", provider)
    [d] = deliveries(provider, 1, "a")
    tracer.start([d])
    DeliveryTracer.end(d, "acked")
    [span] = process_spans(exporter)
    assert "ingest.event_ids" not in span.attributes
    assert span.attributes[telemetry.MESSAGING_MESSAGE_ID] == "1-0"


def test_trace_spans_help_says_batch_mode_is_for_batch_handlers():
    from workers.settings import WORKER_OPTIONS

    [option] = [o for o in WORKER_OPTIONS if o.flag == "--trace-spans"]
    assert "for batch handlers and sinks" in option.help
    assert "per-event handlers keep one span per event" in option.help
