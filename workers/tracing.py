"""Process spans of deliveries (OpenTelemetry), at near-zero cost when tracing is off.

One span per delivery (``--trace-spans event``, the default), in the producer's trace when the
entry carries ``traceparent``, with the messaging attributes of :mod:`ingest.telemetry`.
Retries are span events (``attempt``: the number of the attempt that failed, from 1;
``wait_s``: the wait before the next attempt); a batch call that failed as a whole is a
``batch failed`` span event; a dead letter marks the span as an error. A replayed dead letter
(``replayed_from`` in the entry) starts a new trace whose process span links to the original.

``--trace-spans batch`` (for batch handlers and sinks): the deliveries of one handler batch
that carry the same trace context (the producer gives every entry of one of its batches its
``ingest.produce`` span) share one process span, a child of that producer span, with
``messaging.batch.message_count`` and the entry and event IDs as list attributes (the
OpenTelemetry messaging conventions' batch form). A per-event handler takes one event per
call, so it still gets one span per event; in batch mode every single-event span carries the
list attributes too (``ingest.event_ids`` = [its event ID], ``ingest.entry_ids`` = [its entry
ID], ``messaging.batch.message_count`` = 1) besides ``messaging.message.id``, so one search
by ``ingest.event_ids`` finds an event whichever span it got.
The OpenTelemetry Python SDK costs about 60 us per span (start, end, OTLP encoding), more than
the rest of a delivery; sharing spans cuts that by the batch size. Retries and dead letters
stay visible per event: span events (and the error status) carry the event and entry IDs.

When the tracer provider is a no-op (nothing configured), every method returns at once
without building attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from ingest import telemetry as t
from workers.delivery import Delivery


def _is_noop(provider: trace.TracerProvider | None) -> bool:
    if provider is None:
        provider = trace.get_tracer_provider()
    return isinstance(provider, trace.NoOpTracerProvider | trace.ProxyTracerProvider)


# Shared spans by ``id(span)``: [deliveries still holding it, worst outcome so far]. The last
# delivery to end ends the span.
_SHARES: dict[int, list[Any]] = {}
_OUTCOME_RANK = {"acked": 0, "released": 1, "failed": 2, "dead-lettered": 3}


class DeliveryTracer:
    """Starts and ends the process spans of deliveries.

    Args:
        stream, group, consumer: span attributes.
        provider: tracer provider; default the global one. A no-op or unset global provider
            turns tracing off (``enabled`` False).
        per_batch: share one span among the deliveries of a batch that carry the same trace
            context (see the module docstring); default one span per delivery.
    """

    def __init__(
        self,
        stream: str,
        group: str,
        consumer: str,
        provider: trace.TracerProvider | None = None,
        *,
        per_batch: bool = False,
    ) -> None:
        self.enabled = not _is_noop(provider)
        self.per_batch = per_batch
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
        """Start the spans of ``deliveries`` (stored on ``delivery.span``)."""
        if not self.enabled:
            return
        if not self.per_batch or len(deliveries) == 1:
            for d in deliveries:
                d.span = self._start_one(d)
            return
        groups: dict[tuple[str, str, str], list[Delivery]] = {}
        for d in deliveries:
            f = d.fields
            key = (f.get("traceparent", ""), f.get("tracestate", ""), f.get("replayed_from", ""))
            groups.setdefault(key, []).append(d)
        for members in groups.values():
            span = self._start_one(members[0]) if len(members) == 1 else self._start_shared(members)
            for d in members:
                d.span = span

    def _start_one(self, d: Delivery) -> trace.Span:
        attributes: dict[str, str | int | bool | list[str]] = dict(self._base)
        attributes[t.MESSAGING_MESSAGE_ID] = d.entry_id
        attributes[t.INGEST_EVENT_ID] = d.event_id
        if self.per_batch:
            # The batch form's attributes too, so one search finds shared and single spans.
            attributes[t.MESSAGING_BATCH_MESSAGE_COUNT] = 1
            attributes["ingest.entry_ids"] = [d.entry_id]
            attributes["ingest.event_ids"] = [d.event_id]
        attributes[t.INGEST_DELIVERY_COUNT] = d.history.delivery_count
        if d.claimed:
            attributes["ingest.claimed"] = True
        context, links = self._parent(d, attributes)
        return self._tracer.start_span(
            self._name, context=context, kind=SpanKind.CONSUMER, attributes=attributes, links=links
        )

    def _start_shared(self, members: list[Delivery]) -> trace.Span:
        attributes: dict[str, str | int | bool | list[str]] = dict(self._base)
        attributes[t.MESSAGING_BATCH_MESSAGE_COUNT] = len(members)
        attributes["ingest.entry_ids"] = [d.entry_id for d in members]
        attributes["ingest.event_ids"] = [d.event_id for d in members]
        attributes[t.INGEST_DELIVERY_COUNT] = max(d.history.delivery_count for d in members)
        if any(d.claimed for d in members):
            attributes["ingest.claimed"] = True
        context, links = self._parent(members[0], attributes)
        span = self._tracer.start_span(
            self._name, context=context, kind=SpanKind.CONSUMER, attributes=attributes, links=links
        )
        _SHARES[id(span)] = [len(members), "acked"]
        return span

    @staticmethod
    def _parent(d: Delivery, attributes: dict[str, Any]) -> tuple[Context, list[Link] | None]:
        context = t.extract_context(d.fields)
        replayed_from = d.fields.get("replayed_from")
        if not replayed_from:
            return context, None
        # A replayed dead letter starts a trace of its own, linked to the original.
        attributes[t.INGEST_REPLAYED_FROM] = replayed_from
        original = trace.get_current_span(context).get_span_context()
        return Context(), ([Link(original)] if original.is_valid else None)

    @staticmethod
    def batch_failed(deliveries: Sequence[Delivery], error: BaseException) -> None:
        """Record on each span of ``deliveries`` (once per shared span) that their batch call
        failed as a whole with ``error``, so each event is re-run on its own."""
        seen: set[int] = set()
        for d in deliveries:
            if d.span is not None and id(d.span) not in seen:
                seen.add(id(d.span))
                d.span.add_event(
                    "batch failed",
                    {"error.type": type(error).__name__, "batch.size": len(deliveries)},
                )

    @staticmethod
    def retry(delivery: Delivery, attempt: int, error: BaseException, wait_s: float) -> None:
        """Record a retry as a span event naming the event.

        Args:
            delivery: the delivery being retried.
            attempt: the number of the attempt that failed (1 for the first call).
            error: what that attempt raised.
            wait_s: seconds waited before the next attempt.
        """
        if delivery.span is not None:
            delivery.span.add_event(
                "retry",
                {
                    "attempt": attempt,
                    "error.type": type(error).__name__,
                    "wait_s": wait_s,
                    t.INGEST_EVENT_ID: delivery.event_id,
                },
            )

    @staticmethod
    def end(delivery: Delivery, outcome: str, error: BaseException | None = None) -> None:
        """End the delivery's part of its span: ``outcome`` is ``acked``, ``dead-lettered``,
        ``failed``, ``released`` or ``claimed-elsewhere`` (settled by another consumer first);
        dead-lettered and failed spans are errors. A shared span
        ends with its last delivery and reports the worst outcome."""
        span = delivery.span
        if span is None:
            return
        delivery.span = None
        share = _SHARES.get(id(span))
        if share is None:
            span.set_attribute("ingest.outcome", outcome)
        else:
            share[0] -= 1
            if outcome != "acked":
                span.add_event(
                    outcome,
                    {
                        t.INGEST_EVENT_ID: delivery.event_id,
                        t.MESSAGING_MESSAGE_ID: delivery.entry_id,
                    },
                )
            if _OUTCOME_RANK.get(outcome, 0) > _OUTCOME_RANK.get(share[1], 0):
                share[1] = outcome
        if error is not None:
            span.record_exception(error, attributes={t.INGEST_EVENT_ID: delivery.event_id})
        if outcome in {"dead-lettered", "failed"}:
            span.set_status(Status(StatusCode.ERROR, outcome if error is None else str(error)))
        if share is not None:
            if share[0] > 0:
                return
            del _SHARES[id(span)]
            span.set_attribute("ingest.outcome", share[1])
        span.end()
