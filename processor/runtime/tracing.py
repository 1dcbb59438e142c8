"""The processor's spans: one per batch, continuing its messages' traces from the ingress.

OpenTelemetry's messaging conventions for a batch: one CONSUMER span, `process <queue>`, with a
link to the context each message was published in (its `traceparent` header). The span is also
the child of its first message's context, so that a webhook alone in its batch (the common case
on a quiet queue) is one trace from TEvo's POST to the commit; the others of a batch reach it
through their links. Under it: asyncpg's statements and the calls to TEvo's API, from the
maintained instrumentations installed by `instrument`.

Off (no `OTEL_*` variable), `instrument` is never called and `batch_span` costs a flag's test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from aio_pika.abc import AbstractIncomingMessage
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind

from contracts.tracing import extract

tracer = trace.get_tracer("processor")
_on = False  # set by `instrument`: this process records spans


def instrument() -> None:
    """Spans for asyncpg's statements (without their parameters: they hold buyers' details) and
    for the aiohttp client's requests (TEvo's API); a batch span for each batch."""
    global _on  # noqa: PLW0603 - once per process, at start, before any batch
    # Imported here: with tracing off the instrumentations (and wrapt) are never loaded.
    from opentelemetry.instrumentation.aiohttp_client import (  # noqa: PLC0415
        AioHttpClientInstrumentor,
    )
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor  # noqa: PLC0415

    # The instrumentor's constructor carries no annotations; it takes only this flag.
    AsyncPGInstrumentor(capture_parameters=False).instrument()  # type: ignore[no-untyped-call]
    AioHttpClientInstrumentor().instrument()
    _on = True


@contextmanager
def batch_span(
    queue_of: Callable[[], str], deliveries: Sequence[AbstractIncomingMessage]
) -> Iterator[None]:
    """The CONSUMER span of one batch of deliveries from the queue `queue_of()` names, current
    while it is applied (the name is asked for only when tracing is on)."""
    if not _on or not deliveries:
        yield
        return
    queue = queue_of()
    contexts = [extract(delivery.headers or {}) for delivery in deliveries]
    published = [trace.get_current_span(context).get_span_context() for context in contexts]
    attributes: dict[str, str | int] = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": queue,
        "messaging.batch.message_count": len(deliveries),
    }
    if len(deliveries) == 1 and deliveries[0].message_id:
        attributes["messaging.message.id"] = deliveries[0].message_id
    with tracer.start_as_current_span(
        f"process {queue}",
        context=contexts[0],
        kind=SpanKind.CONSUMER,
        links=[Link(context) for context in published if context.is_valid],
        attributes=attributes,
    ):
        yield
