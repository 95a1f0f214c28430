"""Process spans of deliveries (OpenTelemetry), at near-zero cost when tracing is off.

One span per delivery, in the producer's trace when the entry carries ``traceparent``, with
the messaging attributes of :mod:`ingest.telemetry`. Retries are span events; a dead letter
marks the span as an error. A replayed dead letter (``replayed_from`` in the entry) starts a
new trace whose process span links to the original one. When the tracer provider is a no-op
(nothing configured), every method returns at once without building attributes.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from ingest import telemetry as t
from workers.delivery import Delivery


def _is_noop(provider: trace.TracerProvider | None) -> bool:
    if provider is None:
        provider = trace.get_tracer_provider()
    return isinstance(provider, trace.NoOpTracerProvider | trace.ProxyTracerProvider)


class DeliveryTracer:
    """Starts and ends the process spans of deliveries.

    Args:
        stream, group, consumer: span attributes.
        provider: tracer provider; default the global one. A no-op or unset global provider
            turns tracing off (``enabled`` False).
    """

    def __init__(
        self,
        stream: str,
        group: str,
        consumer: str,
        provider: trace.TracerProvider | None = None,
    ) -> None:
        self.enabled = not _is_noop(provider)
        self._tracer = t.get_tracer(provider)
        self._base = {
            t.MESSAGING_SYSTEM: t.MESSAGING_SYSTEM_VALUE,
            t.MESSAGING_OPERATION_TYPE: "process",
            t.MESSAGING_OPERATION_NAME: "process",
            t.MESSAGING_DESTINATION_NAME: stream,
            t.MESSAGING_CONSUMER_GROUP_NAME: group,
            t.MESSAGING_CLIENT_ID: consumer,
            t.INGEST_CONSUMER: consumer,
        }
        self._name = f"process {stream}"

    def start(self, deliveries: Sequence[Delivery]) -> None:
        """Start a span for each delivery (stored on ``delivery.span``)."""
        if not self.enabled:
            return
        for d in deliveries:
            attributes: dict[str, str | int | bool] = dict(self._base)
            attributes[t.MESSAGING_MESSAGE_ID] = d.entry_id
            attributes[t.INGEST_EVENT_ID] = d.event_id
            attributes[t.INGEST_DELIVERY_COUNT] = d.delivery_count
            if d.claimed:
                attributes["ingest.claimed"] = True
            context = t.extract_context(d.fields)
            links = None
            replayed_from = d.fields.get("replayed_from")
            if replayed_from:
                # A replayed dead letter starts a trace of its own, linked to the original.
                attributes[t.INGEST_REPLAYED_FROM] = replayed_from
                original = trace.get_current_span(context).get_span_context()
                links = [Link(original)] if original.is_valid else None
                context = Context()
            d.span = self._tracer.start_span(
                self._name,
                context=context,
                kind=SpanKind.CONSUMER,
                attributes=attributes,
                links=links,
            )

    @staticmethod
    def retry(delivery: Delivery, attempt: int, error: BaseException, wait_s: float) -> None:
        """Record a retry as a span event."""
        if delivery.span is not None:
            delivery.span.add_event(
                "retry",
                {"attempt": attempt, "error.type": type(error).__name__, "wait_s": wait_s},
            )

    @staticmethod
    def end(delivery: Delivery, outcome: str, error: BaseException | None = None) -> None:
        """End the span: ``outcome`` is ``acked``, ``dead-lettered``, ``failed`` or
        ``released``; dead-lettered and failed spans are errors."""
        span = delivery.span
        if span is None:
            return
        delivery.span = None
        span.set_attribute("ingest.outcome", outcome)
        if error is not None:
            span.record_exception(error)
        if outcome in {"dead-lettered", "failed"}:
            span.set_status(Status(StatusCode.ERROR, outcome if error is None else str(error)))
        span.end()
