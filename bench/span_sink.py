"""An OTLP/HTTP endpoint for a traced bench run: it takes every export and keeps the count.

Its own CPU is the bench's, not the services': what a run with `--tracing` measures is what the
services spend making and exporting their spans.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from bench.harness import free_port


@dataclass
class SpanSink:
    """An OTLP/HTTP endpoint that takes every export and keeps only the count."""

    url: str
    requests: int = 0


@contextlib.asynccontextmanager
async def span_sink(*, enabled: bool) -> AsyncIterator[SpanSink | None]:
    """A sink for the services' spans while `enabled`; None otherwise (tracing stays off)."""
    if not enabled:
        yield None
        return
    port = free_port()
    sink = SpanSink(f"http://127.0.0.1:{port}")

    async def take(request: web.Request) -> web.Response:
        await request.read()
        sink.requests += 1
        return web.Response(content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", take)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield sink
    finally:
        await runner.cleanup()
