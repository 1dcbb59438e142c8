"""The processor's HTTP port: `/metrics` for Prometheus, `/healthz` and `/readyz` for orchestrators.

The processor takes no requests; this port only lets a scraper and a kubelet look inside. It is up
before the broker and the database are, so liveness holds while the runtime waits for them and
readiness says what it is waiting for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from aiohttp import web, web_response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from processor.errors import CannotStart
from processor.metrics import ProcessorMetrics
from processor.runtime.health import UP, Health

log = structlog.get_logger(__name__)

SERVER = "tevo-pos-webhooks"  # no version: a scanner learns nothing to look up
HEALTH = web.AppKey("health", Health)
METRICS = web.AppKey("metrics", ProcessorMetrics)


def create_app(metrics: ProcessorMetrics, health: Health) -> web.Application:
    # Every answer's `Server` header, without Python's and aiohttp's versions: aiohttp has no
    # option for it and reads this global at each answer, its parser's refusals included.
    web_response.SERVER_SOFTWARE = SERVER  # type: ignore[attr-defined] # imported there, not exported
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
    states = await health.states()
    paused = health.paused
    if paused is not None:  # its broker connections are closed on purpose, not down
        states.pop("broker", None)
    held = health.held_too_long()  # a stranded delivery must not hide behind the others
    ready = all(state == UP for state in states.values()) and paused is None and not held
    body: dict[str, object] = {"ready": ready}
    body.update(states)
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
        try:
            await site.start()
        except OSError as exc:  # taken (node_exporter's 9100, say), or not this host's address
            raise CannotStart(
                f"cannot listen on {host}:{port} (TEVO_PROCESSOR_HTTP_HOST, "
                f"TEVO_PROCESSOR_HTTP_PORT): {exc.strerror or exc}"
            ) from None
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
