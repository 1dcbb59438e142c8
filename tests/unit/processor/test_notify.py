"""Notifications: once each, never a body or a buyer's detail, never waited on by the processor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from processor.notify import Notice, Notifier, dead_lettered, needs_person

BASE = "https://console.example.com"


class Target:
    """A Slack-like incoming webhook on 127.0.0.1: records what it got; can hang or refuse."""

    def __init__(self) -> None:
        self.got: list[dict[str, str]] = []
        self.hang = asyncio.Event()
        self.status = 200
        self.two = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append(await request.json())
        if len(self.got) >= 2:
            self.two.set()
        if self.hang.is_set():
            await asyncio.Event().wait()  # never answers; the client's timeout must end it
        return web.Response(status=self.status, text="ok")


@pytest.fixture
async def target() -> AsyncIterator[tuple[Target, str]]:
    app, seen = web.Application(), Target()
    app.router.add_post("/hook", seen.handle)
    async with TestServer(app) as server:
        yield seen, str(server.make_url("/hook"))


def _once() -> tuple[set[tuple[str, str]], Callable[[Notice], Awaitable[bool]]]:
    sent: set[tuple[str, str]] = set()

    async def first(notice: Notice) -> bool:
        key = (notice.kind, notice.subject)
        new = key not in sent
        sent.add(key)
        return new

    return sent, first


async def test_each_sale_and_message_is_told_once(target: tuple[Target, str]) -> None:
    seen, url = target
    _, first = _once()
    async with aiohttp.ClientSession() as session:
        notifier = Notifier(url, first, session)
        for _ in range(3):
            notifier.tell(needs_person(BASE, order_id=10324950, reason="no sales rule for buyer"))
            notifier.tell(
                dead_lettered(
                    BASE,
                    consumer="seller.airbill_uploaded",
                    message_id="m-1",
                    order=(10324712, 4606857),
                    reason="permanent_failure",
                    error="ContractViolation",
                )
            )
        await notifier.drain()
    assert [g["text"] for g in seen.got] == [
        f"Needs a person: sale 10324950: no sales rule for buyer. {BASE}/orders/10324950",
        "Dead-lettered: order 10324712 (seller.airbill_uploaded): permanent_failure, "
        f"ContractViolation. {BASE}/orders/10324712",
    ]


async def test_a_hanging_target_costs_a_timeout_and_a_full_queue_drops(
    target: tuple[Target, str],
) -> None:
    seen, url = target
    seen.hang.set()
    _, first = _once()
    async with aiohttp.ClientSession() as session:
        notifier = Notifier(url, first, session, timeout=0.2)
        for n in range(Notifier.QUEUE + 10):  # tell never waits, even past the bound
            notifier.tell(needs_person(BASE, order_id=n, reason="r"))
        sender = asyncio.create_task(notifier.run())
        # the first timed out, and the next one was tried
        await asyncio.wait_for(seen.two.wait(), timeout=5)
        sender.cancel()
    assert len(seen.got) >= 2


async def test_a_refusing_or_absent_target_changes_nothing_else(target: tuple[Target, str]) -> None:
    seen, url = target
    seen.status = 500
    _, first = _once()
    async with aiohttp.ClientSession() as session:
        for where in (url, "http://127.0.0.1:9/hook"):  # refused, then nothing listening
            notifier = Notifier(where, first, session, timeout=1)
            notifier.tell(needs_person(BASE, order_id=len(where), reason="r"))
            await notifier.drain()
    assert len(seen.got) == 1
