"""The search page and an order's dossier, with the buyer's details revealed on request."""

from __future__ import annotations

from aiohttp import web

from processor.console.dossier import dossier, search
from processor.console.held import held_copies
from processor.console.web import CONSOLE, SESSION, order_id_of, render
from processor.ops import audit
from processor.registry import CONSUMERS


async def search_page(request: web.Request) -> web.Response:
    words = request.query.get("q", "").strip()[:200]
    found = []
    if words:
        async with request.app[CONSOLE].pool.acquire() as conn:
            found = await search(conn, words)
    return render(request, "search.html", q=words, found=found)


async def order_page(request: web.Request) -> web.Response:
    return await _dossier(request, reveal=False)


async def reveal(request: web.Request) -> web.Response:
    """The dossier with the buyer's details in clear: an act of its own, recorded first."""
    order_id = order_id_of(request)
    async with request.app[CONSOLE].pool.acquire() as conn:
        act = audit.Act(
            request[SESSION].operator,
            "console",
            "dossier.reveal",
            "buyer details shown",
            [order_id],
        )
        await audit.record(conn, act)
    return await _dossier(request, reveal=True)


async def _dossier(request: web.Request, *, reveal: bool) -> web.Response:
    order_id = order_id_of(request)
    console = request.app[CONSOLE]
    settings = console.deps.settings
    async with console.pool.acquire() as conn:
        found = await dossier(conn, order_id, reveal=reveal, riskified=settings.riskified)
    held, waiting = await held_copies(
        console.broker, settings.topology, CONSUMERS, settings.retry_delays, found.ids
    )
    status = 200 if found.known or held else 404
    return render(
        request, "dossier.html", status, d=found, held=held, waiting=waiting, revealed=reveal
    )
