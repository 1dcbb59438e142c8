"""The console's pages without a database: headers on every answer, sign-in form, redirects."""

from __future__ import annotations

from typing import Any, cast

from aiohttp.test_utils import TestClient, TestServer

from processor.console.app import create_app
from processor.console.sessions import Throttle
from processor.console.web import CSP, Console
from processor.handler import Deps
from processor.settings import ProcessorSettings


def _console() -> Console:
    nothing = cast(Any, None)  # no page below reaches the database or the broker
    return Console(Deps(ProcessorSettings()), nothing, nothing, b"k" * 32, None, Throttle())


async def test_without_a_session_every_page_leads_to_sign_in_with_safe_headers() -> None:
    async with TestClient(TestServer(create_app(_console()))) as client:
        for path in ("/", "/review", "/dead-letters", "/audit", "/orders/1"):
            response = await client.get(path, allow_redirects=False)
            assert response.status == 303
            assert response.headers["Location"] == "/login"
            assert response.headers["Content-Security-Policy"] == CSP
            assert response.headers["X-Frame-Options"] == "DENY"
            assert response.headers["Server"] == "tevo-console"
        response = await client.post(
            "/review/1/resolve", data={"action": "dismiss"}, allow_redirects=False
        )
        assert response.status == 303


async def test_the_sign_in_form_carries_its_token_and_a_forged_post_is_refused() -> None:
    async with TestClient(TestServer(create_app(_console()))) as client:
        response = await client.get("/login")
        assert response.status == 200
        page = await response.text()
        assert 'name="login_token"' in page
        assert "<script" not in page
        cookie = response.cookies["tevo_console_login"]
        assert cookie["httponly"]
        assert cookie["samesite"] == "Strict"
        assert cookie["secure"]  # TEVO_CONSOLE_SECURE_COOKIES is on by default
        forged = await client.post("/login", data={"name": "alice", "password": "x" * 12})
        assert forged.status == 403


async def test_the_stylesheet_and_health_need_no_session() -> None:
    async with TestClient(TestServer(create_app(_console()))) as client:
        assert (await client.get("/static/console.css")).status == 200
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/favicon.ico")).status == 204
