"""One span per batch: the child of its first message's context, linked to every message's."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from aio_pika.abc import AbstractIncomingMessage
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from processor.runtime import tracing

FIRST, SECOND = "a" * 32, "b" * 32


@dataclass
class Delivery:
    """The two things the batch span reads of a delivery."""

    headers: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = "m-1"


def _deliveries(*traces: str | None) -> Sequence[AbstractIncomingMessage]:
    made = [
        Delivery({"traceparent": f"00-{t}-{'1' * 16}-01"} if t else {}, f"m-{i}")
        for i, t in enumerate(traces)
    ]
    return cast(Sequence[AbstractIncomingMessage], made)


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "tracer", provider.get_tracer("processor"))
    monkeypatch.setattr(tracing, "_on", True)
    yield exporter
    provider.shutdown()


def test_off_no_span_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "tracer", provider.get_tracer("processor"))
    with tracing.batch_span(lambda: "tevo.sales", _deliveries(FIRST)):
        pass
    assert exporter.get_finished_spans() == ()


def test_a_batch_continues_its_first_message_and_links_each(
    exported: InMemorySpanExporter,
) -> None:
    with tracing.batch_span(lambda: "tevo.sales", _deliveries(FIRST, SECOND, None)):
        pass
    (span,) = exported.get_finished_spans()
    assert span.name == "process tevo.sales"
    assert span.kind == SpanKind.CONSUMER
    assert format(span.context.trace_id, "032x") == FIRST
    assert span.parent is not None
    assert span.parent.span_id == int("1" * 16, 16)
    assert [format(link.context.trace_id, "032x") for link in span.links] == [FIRST, SECOND]
    assert span.attributes is not None
    assert span.attributes["messaging.batch.message_count"] == 3
    assert span.attributes["messaging.destination.name"] == "tevo.sales"


def test_a_batch_of_untraced_messages_starts_its_own_trace(
    exported: InMemorySpanExporter,
) -> None:
    with tracing.batch_span(lambda: "tevo.sales", _deliveries(None)):
        pass
    (span,) = exported.get_finished_spans()
    assert span.parent is None
    assert span.links == ()
