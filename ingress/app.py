"""The aiohttp application: the webhook endpoint, health and metrics; built by `create_app`."""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ingress.form import FormError, parse_form
from ingress.metrics import IngressMetrics
from ingress.publisher import BrokerUnavailable, Publisher
from ingress.settings import IngressSettings

log = structlog.get_logger("ingress")

SETTINGS = web.AppKey("settings", IngressSettings)
PUBLISHER = web.AppKey("publisher", Publisher)
METRICS = web.AppKey("metrics", IngressMetrics)

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
RETRY_AFTER_SECONDS = "5"


def create_app(
    settings: IngressSettings, *, metrics: IngressMetrics | None = None
) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[METRICS] = metrics or IngressMetrics()
    app.cleanup_ctx.append(_publisher_ctx)
    app.router.add_post("/webhooks/tevo/{token}", receive_webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    return app


async def _publisher_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    publisher = Publisher(
        settings.amqp_url,
        settings.topology,
        confirm_timeout=settings.confirm_timeout,
    )
    publisher.start()
    app[PUBLISHER] = publisher
    yield
    await publisher.close()


def _token_ok(candidate: str, tokens: tuple[str, ...]) -> bool:
    # Compare with every token, always: timing says nothing about which one nearly matched.
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(candidate.encode(), token.encode())
    return matched


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
    app = request.app
    metrics = app[METRICS]
    if not _token_ok(request.match_info["token"], app[SETTINGS].webhook_tokens):
        metrics.received.labels("unknown", "unknown", "401").inc()
        log.warning("webhook.unauthorized", remote=request.remote)
        return _error(401, "unauthorized")
    response = await _accept(request)
    return response


async def _accept(request: web.Request) -> web.Response:
    app = request.app
    metrics = app[METRICS]
    if request.content_type != FORM_CONTENT_TYPE:
        metrics.received.labels("unknown", "unknown", "415").inc()
        return _error(
            415, "unsupported content type", "Content-Type", f"expected {FORM_CONTENT_TYPE}"
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        metrics.received.labels("unknown", "unknown", "413").inc()
        return _error(
            413, "request too large", None, f"at most {app[SETTINGS].max_body_bytes} bytes"
        )
    try:
        envelope = parse_form(raw)
    except FormError as exc:
        metrics.received.labels("unknown", "unknown", "400").inc()
        log.info("webhook.rejected", field=exc.field, detail=exc.detail)
        return web.json_response(exc.as_json(), status=400)
    structlog.contextvars.bind_contextvars(
        message_id=envelope.message_id,
        event_type=envelope.event_type,
        recipient=envelope.recipient.value,
        order_group_id=envelope.order_group_id,
    )
    labels = (envelope.recipient.value, envelope.event_type)
    started = time.perf_counter()
    try:
        await app[PUBLISHER].publish(envelope, datetime.now(UTC))
    except BrokerUnavailable as exc:
        metrics.received.labels(*labels, "503").inc()
        log.warning("webhook.broker_unavailable", reason=str(exc))
        return _error(
            503,
            "broker unavailable",
            None,
            "retry later",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    finally:
        structlog.contextvars.clear_contextvars()
    metrics.confirm_seconds.observe(time.perf_counter() - started)
    metrics.received.labels(*labels, "202").inc()
    log.info(
        "webhook.accepted",
        message_id=envelope.message_id,
        event_type=envelope.event_type,
        order_group_id=envelope.order_group_id,
    )
    return web.json_response({"status": "accepted", "message_id": envelope.message_id}, status=202)


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ready = await request.app[PUBLISHER].check()
    return web.json_response(
        {"ready": ready, "broker": "connected" if ready else "down"}, status=200 if ready else 503
    )


async def metrics_view(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
