"""The processor's HTTP port: `/metrics` for Prometheus, `/healthz` and `/readyz` for orchestrators.

The processor takes no requests; this port only lets a scraper and a kubelet look inside. It is up
before the broker and the database are, so liveness holds while the runtime waits for them and
readiness says what it is waiting for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from processor.metrics import ProcessorMetrics
from processor.runtime.health import Health

log = structlog.get_logger(__name__)

HEALTH = web.AppKey("health", Health)
METRICS = web.AppKey("metrics", ProcessorMetrics)


def create_app(metrics: ProcessorMetrics, health: Health) -> web.Application:
    app = web.Application()
    app[METRICS] = metrics
    app[HEALTH] = health
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    return app


async def healthz(_request: web.Request) -> web.Response:
    # Answering at all is the signal: a wedged event loop would not.
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    health = request.app[HEALTH]
    checks = await health.check()
    paused = health.paused
    if paused is not None:  # its broker connections are closed on purpose, not down
        checks.pop("broker", None)
    held = health.held_too_long()  # a stranded delivery must not hide behind the others
    ready = all(checks.values()) and paused is None and not held
    body: dict[str, object] = {"ready": ready}
    body.update({name: "up" if up else "down" for name, up in checks.items()})
    if paused is not None:  # e.g. "database unavailable": messages wait in their queues
        body["paused"] = paused
    if held:
        body["deliveries"] = f"one held unacked for {health.held_for():.0f} s"
    return web.json_response(body, status=200 if ready else 503)


async def metrics_view(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@asynccontextmanager
async def serve(
    host: str, port: int, metrics: ProcessorMetrics, health: Health
) -> AsyncIterator[int]:
    """Serve the port until the block ends; yields the bound port (useful when `port` is 0)."""
    runner = web.AppRunner(create_app(metrics, health), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = _bound_port(runner, port)
        log.info("http.listening", host=host, port=bound)
        yield bound
    finally:
        await runner.cleanup()


def _bound_port(runner: web.AppRunner, requested: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[1], int):
            return address[1]
    return requested
