"""A fake TEvo API on 127.0.0.1: checks signatures as TEvo does, serves orders, fails on demand.

Its signature check is written out here, apart from `processor.tevo.api.sign`, so a mistake in
the client's signing cannot hide behind the same mistake in the fake.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

TOKEN = "fake-tevo-token-0123456789"
SECRET = "fake-tevo-secret-abcdefghij"


@dataclass
class Failure:
    status: int
    retry_after: str | None = None


@dataclass
class FakeTevo:
    """Orders by id, answers to fail with, and every request it saw (`METHOD path?query`)."""

    token: str = TOKEN
    secret: str = SECRET
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    down: bool = False
    slow: float = 0.0
    seen: list[str] = field(default_factory=list)
    url: str = ""  # the base URL, like `TEVO_API_URL`, while `running`

    def add(self, *orders: dict[str, Any]) -> None:
        for order in orders:
            self.orders[int(order["id"])] = order

    def fail_next(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        self.failures += [Failure(status, retry_after)] * times

    def expected_signature(self, request: web.Request) -> str:
        pairs = sorted(request.query_string.split("&")) if request.query_string else []
        signed = f"{request.method} {request.host}{request.path}?{'&'.join(pairs)}"
        digest = hmac.new(self.secret.encode(), signed.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.seen.append(f"{request.method} {request.path_qs}")
        if self.slow:
            await asyncio.sleep(self.slow)
        if self.down:
            return web.json_response({"error": "Service Unavailable"}, status=503)
        if self.failures:
            failure = self.failures.pop(0)
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            return web.json_response({"error": "failure"}, status=failure.status, headers=headers)
        token_ok = hmac.compare_digest(request.headers.get("X-Token", ""), self.token)
        signature = request.headers.get("X-Signature", "")
        if not (token_ok and hmac.compare_digest(signature, self.expected_signature(request))):
            return web.json_response({"error": "Unauthorized"}, status=401)
        response: web.StreamResponse = await handler(request)
        return response

    async def _show(self, request: web.Request) -> web.Response:
        order = self.orders.get(int(request.match_info["id"]))
        if order is None:
            return web.json_response({"error": "Not Found"}, status=404)
        return web.json_response(order)

    async def _index(self, request: web.Request) -> web.Response:
        state, kind = request.query.get("state"), request.query.get("type", "Order")
        page = int(request.query.get("page", "1"))
        per_page = min(int(request.query.get("per_page", "100")), 100)
        # Every order held here is a sale: `type=PurchaseOrder` lists none.
        matching = [
            o for o in self.orders.values() if kind == "Order" and state in (None, o.get("state"))
        ]
        start = (page - 1) * per_page
        return web.json_response(
            {
                "current_page": page,
                "per_page": per_page,
                "total_entries": len(matching),
                "orders": matching[start : start + per_page],
            }
        )

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._gate])
        app.router.add_get("/v9/orders", self._index)
        app.router.add_get(r"/v9/orders/{id:\d+}", self._show)
        return app

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        """Serve on a free loopback port; yields the base URL, like `TEVO_API_URL`."""
        async with TestServer(self.app(), host="127.0.0.1") as server:
            self.url = str(server.make_url("/v9"))
            yield self.url
