"""The ingress's spans: a server span per request named by its route, a producer span per publish.

Built by hand rather than by aiohttp's server instrumentation: that one records the path
(`url.path`), and the webhook's path holds the token. Here a span knows the route's template
(`/webhooks/tevo/{token}`), never the path, the query or a header's value. Both are installed
only when tracing is on (`contracts.tracing.configure_tracing`): off, a request pays nothing.

The producer span is current while the envelope's headers are built, so that
`WebhookEnvelope.headers` writes its context (`traceparent`) into the message: the processor's
batch span continues that trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web
from aiohttp.typedefs import Handler
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from contracts.tracing import extract

tracer = trace.get_tracer("ingress")
# Probes and scrapes, every few seconds from every kubelet and Prometheus: a trace each would
# bury the webhooks' in the backend, and tell nothing /metrics does not.
UNTRACED = frozenset({"/healthz", "/readyz", "/metrics"})


@web.middleware
async def server_span(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One SERVER span per request: `POST /webhooks/tevo/{token}`, its status, no path."""
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else None
    if route in UNTRACED:
        return await handler(request)
    attributes: dict[str, str | int] = {
        "http.request.method": request.method,
        "url.scheme": request.scheme,
        "network.protocol.version": f"{request.version.major}.{request.version.minor}",
    }
    if route is not None:
        attributes["http.route"] = route
    name = f"{request.method} {route}" if route is not None else request.method
    # A proxy in front may have started the trace; TEvo itself sends no context.
    parent = extract(request.headers)
    with tracer.start_as_current_span(
        name, context=parent, kind=SpanKind.SERVER, attributes=attributes
    ) as span:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            span.set_attribute("http.response.status_code", exc.status)
            raise
        span.set_attribute("http.response.status_code", response.status)
        if response.status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        return response


@contextmanager
def producer_span(exchange: str, routing_key: str, message_id: str) -> Iterator[None]:
    """The PRODUCER span of one publish, from the frame sent to the broker's confirm."""
    attributes = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
        "messaging.destination.name": exchange,
        "messaging.rabbitmq.destination.routing_key": routing_key,
        "messaging.message.id": message_id,
    }
    with tracer.start_as_current_span(
        f"publish {exchange}", kind=SpanKind.PRODUCER, attributes=attributes
    ):
        yield
