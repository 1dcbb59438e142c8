"""Sign-in and sign-out: the one form open without a session, guarded by backoff and a nonce."""

from __future__ import annotations

import structlog
from aiohttp import web

from processor.console import accounts, sessions
from processor.console.web import CONSOLE, SESSION, cookie_name, form_text, render

log = structlog.get_logger("processor.console")

NONCE_COOKIE = "tevo_console_login"
WRONG = "Wrong name or password."


def _form(request: web.Request, status: int = 200, error: str = "", name: str = "") -> web.Response:
    console = request.app[CONSOLE]
    nonce, token = sessions.login_nonce(console.key, request.cookies.get(NONCE_COOKIE))
    response = render(request, "login.html", status, error=error, name=name, login_token=token)
    response.set_cookie(
        NONCE_COOKIE,
        nonce,
        httponly=True,
        samesite="Strict",
        secure=console.deps.settings.console_secure_cookies,
        path="/login",
        max_age=3600,
    )
    return response


async def login_page(request: web.Request) -> web.Response:
    return _form(request)


async def login(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    form = await request.post()
    name, password = form_text(form, "name"), form.get("password")
    token = form.get("login_token")
    if not sessions.login_token_good(
        console.key, request.cookies.get(NONCE_COOKIE), token if isinstance(token, str) else None
    ):
        return _form(request, 403, "The sign-in form expired or was not sent from here: try again.")
    keys = (f"name:{name.lower()}", f"address:{request.remote}")
    wait = console.throttle.wait(*keys)
    if wait > 0:
        return _form(request, 429, f"Too many failed sign-ins: wait {wait:.0f} s.", name)
    async with console.pool.acquire() as conn:
        good = isinstance(password, str) and await accounts.authenticate(conn, name, password)
        if not good:
            console.throttle.failed(*keys)
            log.warning("console.sign_in_refused", address=request.remote)
            return _form(request, 401, WRONG, name)
        console.throttle.succeeded(*keys)
        # Rotation: the session this browser held before (if any) ends with the new sign-in.
        before = await sessions.find(conn, console.key, request.cookies.get(cookie_name(request)))
        if before is not None:
            await sessions.end(conn, before)
        settings = console.deps.settings
        cookie = await sessions.start(conn, console.key, name, settings.console_session_lifetime)
    log.info("console.signed_in", operator=name)
    response = web.HTTPSeeOther("/")
    response.set_cookie(
        cookie_name(request),
        cookie,
        httponly=True,
        samesite="Strict",
        secure=settings.console_secure_cookies,
        path="/",
        max_age=int(settings.console_session_lifetime.total_seconds()),
    )
    response.del_cookie(NONCE_COOKIE, path="/login")
    raise response


async def logout(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    async with console.pool.acquire() as conn:
        await sessions.end(conn, request[SESSION])
    log.info("console.signed_out", operator=request[SESSION].operator)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(cookie_name(request), path="/")
    raise response
