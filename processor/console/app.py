"""The console's aiohttp application: its routes, and how it is served until asked to stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from importlib import resources

import asyncpg
import structlog
from aiohttp import web

from processor.broker import connect_broker
from processor.console import audit_page, dead_letters_page, orders, review_page, signin
from processor.console.sessions import Throttle
from processor.console.web import (
    CONSOLE,
    TEMPLATES,
    Console,
    failures,
    on_prepare,
    signed_in,
    templates,
)
from processor.errors import CannotStart
from processor.handler import Deps
from processor.settings import ProcessorSettings
from processor.tevo.api import open_api

log = structlog.get_logger("processor.console")


def create_app(console: Console) -> web.Application:
    app = web.Application(middlewares=[failures, signed_in], client_max_size=256 * 1024)
    app[CONSOLE] = console
    app[TEMPLATES] = templates()
    app.on_response_prepare.append(on_prepare)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/static/console.css", stylesheet)
    app.router.add_get("/favicon.ico", no_icon)
    app.router.add_get("/login", signin.login_page)
    app.router.add_post("/login", signin.login)
    app.router.add_post("/logout", signin.logout)
    app.router.add_get("/", orders.search_page)
    app.router.add_get("/orders/{order_id}", orders.order_page)
    app.router.add_post("/orders/{order_id}/reveal", orders.reveal)
    app.router.add_get("/review", review_page.review_page)
    app.router.add_post("/review/{order_id}/resolve", review_page.resolve)
    app.router.add_post("/review/{order_id}/recheck", review_page.recheck_sale)
    app.router.add_get("/dead-letters", dead_letters_page.page)
    app.router.add_post("/dead-letters", dead_letters_page.act)
    app.router.add_get("/audit", audit_page.audit_page)
    return app


async def no_icon(_request: web.Request) -> web.Response:
    return web.Response(status=204)  # browsers ask; there is none, and no error to log


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when Postgres answers and the broker connection is open: pages need both."""
    console = request.app[CONSOLE]
    database = True
    try:
        async with asyncio.timeout(2):
            await console.pool.fetchval("SELECT 1")
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        database = False
    broker = not console.broker.is_closed
    body = {"ready": database and broker, "database": _up(database), "broker": _up(broker)}
    return web.json_response(body, status=200 if body["ready"] else 503)


def _up(up: bool) -> str:
    return "up" if up else "down"


STYLESHEET = (resources.files("processor.console") / "static" / "console.css").read_bytes()


async def stylesheet(_request: web.Request) -> web.Response:
    return web.Response(
        body=STYLESHEET, content_type="text/css", headers={"Cache-Control": "max-age=300"}
    )


@asynccontextmanager
async def running(settings: ProcessorSettings) -> AsyncIterator[int]:
    """Serve the console on TEVO_CONSOLE_HOST:TEVO_CONSOLE_PORT inside the block; its port."""
    assert settings.console_secret_key is not None  # noqa: S101 - the command checked it
    async with AsyncExitStack() as stack:
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=5)
        stack.push_async_callback(pool.close)
        broker = await connect_broker(settings, role="console")
        stack.push_async_callback(broker.close)
        api = await open_api(stack, settings)
        console = Console(
            deps=Deps(settings, tevo_api=api),
            pool=pool,
            broker=broker,
            key=settings.console_secret_key.get_secret_value().encode(),
            api=api,
            throttle=Throttle(),
        )
        runner = web.AppRunner(create_app(console), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        where = f"{settings.console_host}:{settings.console_port}"
        try:
            await web.TCPSite(runner, settings.console_host, settings.console_port).start()
        except OSError as exc:  # taken, or not this host's address: one line, no traceback
            raise CannotStart(
                f"cannot listen on {where} (TEVO_CONSOLE_HOST, TEVO_CONSOLE_PORT): "
                f"{exc.strerror or exc}"
            ) from None
        port = _port(runner) or settings.console_port
        log.info("console.listening", host=settings.console_host, port=port)
        yield port


def _port(runner: web.AppRunner) -> int | None:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[1], int):
            return address[1]
    return None
