"""TEVO_NOTIFY_URL: a dead letter and a sale that needs a person are told once each, with the
order and the console's link, never a buyer's detail; a target that hangs holds up nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from processor.settings import ProcessorSettings
from tests.integration.conftest import TOKEN, count, eventually, running
from tests.payloads import FORM_HEADERS, form, order

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]


class Hook:
    """A Slack-like incoming webhook on 127.0.0.1 that records each POST, or hangs."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.hang = False

    async def handle(self, request: web.Request) -> web.Response:
        self.texts.append((await request.json())["text"])
        if self.hang:
            await asyncio.Event().wait()
        return web.Response(text="ok")


@pytest.fixture
async def hook() -> AsyncIterator[tuple[Hook, str]]:
    app, seen = web.Application(), Hook()
    app.router.add_post("/hook", seen.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        yield seen, str(server.make_url("/hook"))


@pytest.fixture
def told_settings(
    processor_settings: ProcessorSettings, hook: tuple[Hook, str]
) -> ProcessorSettings:
    return processor_settings.model_copy(
        update={
            "notify_url": SecretStr(hook[1]),
            "review_watch_interval": 0.2,
            "console_base_url": "https://console.example.com",
        }
    )


async def _post(ingress: Client, body: str) -> None:
    response = await ingress.post(f"/webhooks/tevo/{TOKEN}", data=body, headers=FORM_HEADERS)
    assert response.status == 202


async def test_a_dead_letter_and_a_held_sale_are_told_once_each(
    ingress: Client,
    told_settings: ProcessorSettings,
    hook: tuple[Hook, str],
    db: asyncpg.Connection,
) -> None:
    seen, _ = hook
    broken = form(order("order_client", total="not-a-number"), order_group_id=4606901)
    async with running(told_settings):
        for body in (broken, broken, form(order("order_brokerage"), order_group_id=4606950)):
            await _post(ingress, body)

        async def both() -> bool | None:
            return len(seen.texts) >= 2 or None

        await eventually(both, within=20)
        # A second look of the watch, and the second copy of the broken webhook, tell nothing new.
        await eventually(lambda: _looked_again(db), within=10)
    assert sorted(seen.texts) == [
        "Dead-lettered: order 10324800 (seller.order_created): permanent_failure, "
        "ContractViolation. https://console.example.com/orders/10324800",
        "Needs a person: sale 10324950: no sales rule for buyer type 'Brokerage'. "
        "https://console.example.com/orders/10324950",
    ]
    text = json.dumps(seen.texts)
    for detail in ("Jordan", "example.com/", "555-0100", TOKEN):
        assert detail.lower() not in text.lower().replace("console.example.com/", "")


async def _looked_again(db: asyncpg.Connection) -> bool | None:
    await asyncio.sleep(0.5)  # several watch intervals; the assertion is on what was sent
    return await count(db, "SELECT count(*) FROM pos.notifications") == 2 or None


async def test_a_hanging_target_holds_up_no_message(
    ingress: Client,
    told_settings: ProcessorSettings,
    hook: tuple[Hook, str],
    db: asyncpg.Connection,
) -> None:
    seen, _ = hook
    seen.hang = True
    async with running(told_settings):
        await _post(ingress, form(order("order_brokerage"), order_group_id=4606950))
        await _post(ingress, form(order("order_office"), order_group_id=4606857))

        async def applied() -> bool | None:
            return await count(db, "SELECT count(*) FROM pos.sales") == 2 or None

        await eventually(applied, within=20)
        await eventually(lambda: _any(seen), within=10)
    assert await count(db, "SELECT count(*) FROM pos.invoices") == 1


async def _any(seen: Hook) -> bool | None:
    return bool(seen.texts) or None
