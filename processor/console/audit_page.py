"""The audit page: every operator act, newest first, filtered by who, what, order or message."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from processor.console.web import CONSOLE, render
from processor.handler import Connection
from processor.ops import audit


async def audit_page(request: web.Request) -> web.Response:
    q = request.query
    order = q.get("order", "").strip()
    query = audit.Query(
        operator=q.get("operator", "").strip() or None,
        action=q.get("action", "").strip() or None,
        order_id=int(order) if order.isdigit() and len(order) < 19 else None,
        message_id=q.get("message", "").strip() or None,
    )
    async with request.app[CONSOLE].pool.acquire() as conn:
        acts = await audit.acts(conn, query)
    return render(request, "audit.html", acts=acts, query=query, order=order)


async def done_act(conn: Connection, text: str) -> dict[str, Any] | None:
    """The act a POST just recorded, shown after its redirect (`?done=ID`)."""
    return await audit.one(conn, int(text)) if text.isdigit() and len(text) < 19 else None
