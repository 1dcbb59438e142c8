"""The aiohttp application: the webhook endpoint, health and metrics; built by `create_app`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any, Protocol

import structlog
from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from contracts import WebhookEnvelope, tracing
from ingress.errors import BadExpectation, Refused
from ingress.form import parse_form
from ingress.guard import read_body, screen
from ingress.metrics import IngressMetrics
from ingress.publisher import BrokerUnavailable, Publisher
from ingress.redact import redacting
from ingress.serve import ROUTE, WEBHOOK_ROUTE, remember_route
from ingress.settings import IngressSettings
from ingress.tracing import producer_span, server_span

log = structlog.get_logger(__name__)


class WebhookPublisher(Protocol):
    """What the app needs of a publisher: `Publisher` in production, a fake in unit tests."""

    def start(self) -> None: ...

    @property
    def ready(self) -> bool: ...

    async def check(self) -> bool:
        """`ready`, and RabbitMQ still confirms publishes (it may not during an alarm)."""
        ...

    async def publish(self, envelope: WebhookEnvelope, received_at: datetime) -> None: ...

    async def close(self) -> None: ...


SETTINGS = web.AppKey("settings", IngressSettings)
PUBLISHER: web.AppKey[WebhookPublisher] = web.AppKey("publisher")
METRICS = web.AppKey("metrics", IngressMetrics)
OPENAPI = web.AppKey("openapi", bytes)
GATE = web.AppKey("gate", asyncio.Semaphore)  # webhooks in progress, at most max_in_flight
TRACED = web.AppKey("traced", bool)  # tracing is on: spans for each request and publish

RETRY_AFTER_SECONDS = "5"


def create_app(
    settings: IngressSettings,
    *,
    metrics: IngressMetrics | None = None,
    publisher: WebhookPublisher | None = None,
) -> web.Application:
    """The app; it starts and closes `publisher` (by default a RabbitMQ `Publisher`)."""
    app_traced = tracing.installed()
    # The server span, when tracing is on, is outermost: it times the whole answer.
    middlewares = [server_span, remember_route] if app_traced else [remember_route]
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=middlewares)
    app[SETTINGS] = settings
    app[METRICS] = metrics or IngressMetrics()
    app[OPENAPI] = files("ingress").joinpath("openapi.json").read_bytes()
    app[GATE] = asyncio.Semaphore(settings.max_in_flight)
    app[TRACED] = app_traced
    if publisher is not None:
        app[PUBLISHER] = publisher
    app.cleanup_ctx.append(_redaction_ctx)
    app.cleanup_ctx.append(_publisher_ctx)
    app.router.add_post(WEBHOOK_ROUTE, receive_webhook, expect_handler=expect_continue)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/openapi.json", openapi_view)
    return app


async def _redaction_ctx(app: web.Application) -> AsyncIterator[None]:
    with redacting(app[SETTINGS].webhook_tokens):
        yield


async def _publisher_ctx(app: web.Application) -> AsyncIterator[None]:
    if PUBLISHER not in app:
        settings = app[SETTINGS]
        app[PUBLISHER] = Publisher(
            settings.brokers,
            settings.topology,
            confirm_timeout=settings.confirm_timeout,
            linger=settings.publish_linger,
        )
    publisher = app[PUBLISHER]
    publisher.start()
    yield
    await publisher.close()


def _error(
    status: int,
    error: str,
    field: str | None = None,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.json_response(
        {"error": error, "field": field, "detail": detail}, status=status, headers=headers
    )


async def receive_webhook(request: web.Request) -> web.Response:
    settings, gate = request.app[SETTINGS], request.app[GATE]
    started = time.perf_counter()
    try:
        screen(request, settings)
    except Refused as exc:
        return _refusal(request, exc)
    try:
        # Read before the gate: a client slow to send its body (up to `body_timeout`) must not
        # hold a slot that webhooks already read are waiting for. Each read is bounded by
        # `max_body_bytes` and `body_timeout`.
        raw = await read_body(request, settings)
        envelope = parse_form(raw, max_fields=settings.max_form_fields)
    except Refused as exc:
        return _refusal(request, exc)
    if gate.locked():
        # Refused at once rather than queued: a queue past what the broker confirms only grows
        # (memory, then latency for every webhook), and TEvo retries a 503.
        labels = (envelope.recipient.value, envelope.event_type)
        return _unavailable(request.app, labels, "overloaded", "webhook.overloaded")
    async with gate:
        return await _publish(request.app, envelope, started)


def _unavailable(
    app: web.Application, labels: tuple[str, str], error: str, event: str, **keys: Any
) -> web.Response:
    """A 503 with Retry-After: counted, logged as `event` with `keys`, answered as `error`."""
    app[METRICS].count(*labels, "503")
    log.warning(event, **keys)
    headers = {"Retry-After": RETRY_AFTER_SECONDS}
    return _error(503, error, None, "retry later", headers=headers)


async def expect_continue(request: web.Request) -> web.StreamResponse | None:
    """`Expect: 100-continue`: refuse from the head alone, before the client sends its body."""
    request[ROUTE] = WEBHOOK_ROUTE  # for the access log: expect handlers run before middlewares
    try:
        screen(request, request.app[SETTINGS])
    except Refused as exc:
        response = _refusal(request, exc)
        response.force_close()  # the client may send the body anyway; we will not read it
        return response
    # What aiohttp's default expect handler does, once the head has passed.
    if request.version != HttpVersion11 or request.headers[hdrs.EXPECT].lower() != "100-continue":
        refusal = BadExpectation(hdrs.EXPECT, "only 100-continue, over HTTP/1.1")
        return _refusal(request, refusal)
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0
    return None


def _refusal(request: web.Request, exc: Refused) -> web.Response:
    request.app[METRICS].count("unknown", "unknown", str(exc.status))
    log.warning(
        exc.log_event,
        status=exc.status,
        field=exc.field,
        detail=exc.detail,
        remote=request.remote,
    )
    response = web.json_response(exc.as_json(), status=exc.status)
    if exc.close_connection:
        response.force_close()
    return response


async def _publish(
    app: web.Application, envelope: WebhookEnvelope, received: float
) -> web.Response:
    metrics = app[METRICS]
    message_id = envelope.message_id  # computed once per envelope, the publisher reads it too
    labels = (envelope.recipient.value, envelope.event_type)
    started = time.perf_counter()
    try:
        if app[TRACED]:
            exchange = app[SETTINGS].topology.webhooks_exchange
            with producer_span(exchange, envelope.routing_key, message_id):
                await app[PUBLISHER].publish(envelope, datetime.now(UTC))
        else:
            await app[PUBLISHER].publish(envelope, datetime.now(UTC))
    except BrokerUnavailable as exc:
        return _unavailable(
            app,
            labels,
            "broker unavailable",
            "webhook.broker_unavailable",
            reason=str(exc),
            message_id=message_id,
            event_type=envelope.event_type,
            recipient=envelope.recipient.value,
            order_group_id=envelope.order_group_id,
        )
    confirmed = time.perf_counter()
    metrics.confirm_seconds.observe(confirmed - started)
    metrics.count(*labels, "202")
    log.info(
        "webhook.accepted",
        message_id=message_id,
        event_type=envelope.event_type,
        recipient=envelope.recipient.value,
        order_group_id=envelope.order_group_id,
        seconds=round(confirmed - received, 4),  # from the handler's start to the confirm
    )
    return _accepted(message_id)


def _accepted(message_id: str) -> web.Response:
    """`json_response({"status": "accepted", "message_id": ...})`, byte for byte, without json:
    the id is 64 hex digits, nothing to escape, and dumping a dict per webhook cost more than
    the rest of building the answer."""
    body = b'{"status": "accepted", "message_id": "%s"}' % message_id.encode()
    return web.Response(body=body, status=202, content_type="application/json", charset="utf-8")


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ready = await request.app[PUBLISHER].check()
    return web.json_response(
        {"ready": ready, "broker": "connected" if ready else "down"}, status=200 if ready else 503
    )


async def metrics_view(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].exposed)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi_view(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI], content_type="application/json")
