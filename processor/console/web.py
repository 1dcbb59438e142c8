"""The console's web plumbing: its state keys, page rendering, and the checks every request
passes (security headers, a session, a CSRF token on every POST, a clear page on failure).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import asyncpg
import jinja2
import structlog
from aio_pika.abc import AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from aiohttp import web

from processor.console import sessions
from processor.errors import ProcessingError
from processor.handler import Deps, OrdersApi

log = structlog.get_logger("processor.console")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# No script at all, styles from this origin only, never framed, forms post only here.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Pages hold buyers' details: no cache keeps a copy.
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}
NO_CSRF = "This form was not sent from a console page (no valid CSRF token). Nothing was changed."
UNAVAILABLE = "The database, the broker or TEvo's API did not answer"
OPEN_PATHS = frozenset({"/login", "/healthz", "/readyz", "/static/console.css", "/favicon.ico"})


@dataclass(frozen=True)
class Console:
    """What every page may use."""

    deps: Deps
    pool: asyncpg.Pool
    broker: AbstractRobustConnection
    key: bytes
    api: OrdersApi | None
    throttle: sessions.Throttle


CONSOLE = web.AppKey("console", Console)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
SESSION = web.RequestKey("session", sessions.Session)


def templates() -> jinja2.Environment:
    folder = resources.files("processor.console") / "templates"
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=True,  # every value is escaped: an order body cannot inject markup
        undefined=jinja2.StrictUndefined,
    )
    env.filters["when"] = _when
    env.filters["age"] = _age
    return env


def _when(value: Any) -> str:
    return (
        f"{value:%Y-%m-%d %H:%M:%S}"
        if isinstance(value, datetime)
        else ("-" if value is None else str(value))
    )


def _age(value: Any) -> str:
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    return f"{days}d {rest // 3600}h" if days else f"{rest // 3600}h {rest % 3600 // 60:02d}m"


def cookie_name(request: web.Request) -> str:
    # __Host-: the browser keeps it to this host, path /, Secure only.
    secure = request.app[CONSOLE].deps.settings.console_secure_cookies
    return "__Host-tevo_console" if secure else "tevo_console"


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    session = request.get(SESSION)
    page = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(
            operator=session.operator if session else None,
            csrf=session.csrf_token if session else "",
            path=request.path,
            **context,
        )
    )
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")


async def on_prepare(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
    response.headers["Server"] = "tevo-console"  # set, so aiohttp adds no version of its own


@web.middleware
async def signed_in(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every page but sign-in wants a live session; every POST its CSRF token."""
    if request.path in OPEN_PATHS:
        return await handler(request)
    console = request.app[CONSOLE]
    cookie, session = request.cookies.get(cookie_name(request)), None
    if cookie:  # no cookie, no trip to the database
        async with console.pool.acquire() as conn:
            session = await sessions.find(conn, console.key, cookie)
    if session is None:
        raise web.HTTPSeeOther("/login")
    request[SESSION] = session
    if request.method not in ("GET", "HEAD"):
        form = await request.post()
        token = form.get("csrf")
        if not sessions.csrf_good(session, token if isinstance(token, str) else None):
            log.warning("console.csrf_refused", path=request.path, operator=session.operator)
            return render(
                request,
                "message.html",
                403,
                title="Refused",
                text=NO_CSRF,
            )
    return await handler(request)


@web.middleware
async def failures(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A store or broker that cannot answer is a clear 503 page, never a traceback."""
    try:
        return await handler(request)
    except NoSuchPage as missing:
        return render(request, "message.html", 404, title="Not found", text=str(missing))
    except (*CONNECTION_EXCEPTIONS, asyncpg.PostgresError, ProcessingError) as exc:
        log.warning("console.unavailable", path=request.path, error_type=type(exc).__name__)
        return render(
            request,
            "message.html",
            503,
            title="Unavailable",
            text=f"{UNAVAILABLE} ({type(exc).__name__}). Nothing was changed; try again.",
        )


class NoSuchPage(Exception):
    """A URL naming nothing the console can show; answered 404 with a page saying so."""


def order_id_of(request: web.Request) -> int:
    """The `{order_id}` of the URL: TEvo ids are positive bigints."""
    text = request.match_info["order_id"]
    if not text.isdigit() or len(text) > 18:
        raise NoSuchPage(f"{text[:40]!r} is not an order id: TEvo's order ids are numbers.")
    return int(text)


def form_text(form: Any, name: str, default: str = "") -> str:
    value = form.get(name, default)
    return value.strip() if isinstance(value, str) else default
