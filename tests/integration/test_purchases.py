"""Buyer webhooks through the whole path: form POST → ingress → RabbitMQ → processor → POS."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from processor.metrics import ProcessorMetrics
from processor.settings import ProcessorSettings
from tests.integration.conftest import TOKEN, count, eventually, outcomes, running
from tests.payloads import FORM_HEADERS, form, order

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
ORDER_ID = 10411530
GROUP_ID = 4651002
ITEM_ID = 11907741


async def post(ingress: Client, body: dict[str, Any], event_type: str) -> None:
    response = await ingress.post(
        f"/webhooks/tevo/{TOKEN}",
        data=form(body, recipient="buyer", event_type=event_type, order_group_id=GROUP_ID),
        headers=FORM_HEADERS,
    )
    assert response.status == 202


async def applied(metrics: ProcessorMetrics, consumer: str, n: int = 1) -> None:
    async def done() -> bool:
        return outcomes(metrics, consumer, "applied") >= n

    await eventually(done)


async def history(db: asyncpg.Connection, tevo_order_id: int = ORDER_ID) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT event_type, state, note FROM pos.order_history WHERE tevo_order_id = $1"
        " ORDER BY id",
        tevo_order_id,
    )


async def test_order_accepted_twice_makes_one_purchase_order_with_its_total(
    processor_settings: ProcessorSettings, ingress: Client, db: asyncpg.Connection
) -> None:
    async with running(processor_settings) as metrics:
        await post(ingress, order("purchase_order"), "order_accepted")
        await post(ingress, order("purchase_order"), "order_accepted")  # TEvo's retry
        # The same order sent again with another body: another message_id, the same order.
        await post(ingress, order("purchase_order", reference="PO-2026-1183b"), "order_accepted")

        async def all_handled() -> bool:
            return (
                outcomes(metrics, "buyer.order_accepted", "applied") == 2
                and outcomes(metrics, "buyer.order_accepted", "duplicate") == 1
            )

        await eventually(all_handled)
    po = await db.fetchrow("SELECT * FROM pos.purchase_orders")
    assert await count(db, "SELECT count(*) FROM pos.purchase_orders") == 1
    assert po is not None
    assert (po["tevo_order_id"], po["order_group_id"], po["status"]) == (ORDER_ID, GROUP_ID, "open")
    assert (po["total"], po["subtotal"], po["discount"]) == (
        Decimal("750.1"),
        Decimal("740.1"),
        Decimal("5.0"),
    )
    assert (po["seller_id"], po["seller_name"], po["seller_brokerage_id"]) == (
        2210,
        "Gotham Seats - Midtown",
        1377,
    )
    assert po["in_hand_on"] == date(2026, 12, 1)
    lines = await db.fetch(
        "SELECT tevo_item_id, quantity, price, seats FROM pos.purchase_order_lines ORDER BY 1"
    )
    assert [tuple(line) for line in lines] == [
        (ITEM_ID, 2, Decimal("185.25"), "101,102"),
        (11907742, 4, Decimal("92.4"), "7,8,9,10"),
    ]
    assert sum(line["quantity"] * line["price"] for line in lines) == po["subtotal"]
    assert [row["event_type"] for row in await history(db)] == ["order_accepted"] * 2


async def test_a_later_delivery_shipped_appears_in_the_history(
    processor_settings: ProcessorSettings, ingress: Client, db: asyncpg.Connection
) -> None:
    async with running(processor_settings) as metrics:
        await post(ingress, order("purchase_order"), "order_accepted")
        await applied(metrics, "buyer.order_accepted")
        shipped = order("purchase_order", updated_at="2026-11-25T16:00:00Z")
        await post(ingress, shipped, "delivery_shipped")
        await applied(metrics, "buyer.delivery_shipped")
    rows = await history(db)
    assert [(r["event_type"], r["state"]) for r in rows] == [
        ("order_accepted", "accepted"),
        ("delivery_shipped", "accepted"),
    ]
    assert rows[1]["note"] == "delivery shipped; purchase order updated; delivery state shipped"
    assert await db.fetchval("SELECT delivery_state FROM pos.purchase_orders") == "shipped"


async def test_canceled_cancels_and_an_older_update_does_not_reopen(
    processor_settings: ProcessorSettings, ingress: Client, db: asyncpg.Connection
) -> None:
    async with running(processor_settings) as metrics:
        await post(ingress, order("purchase_order"), "order_accepted")
        await applied(metrics, "buyer.order_accepted")
        canceled = order("purchase_order", state="canceled", updated_at="2026-11-26T08:00:00Z")
        await post(ingress, canceled, "order_canceled")
        await applied(metrics, "buyer.order_canceled")
        # Delayed by TEvo's retries: older than the cancel it arrives after.
        late = order("purchase_order", updated_at="2026-11-25T16:00:00Z")
        await post(ingress, late, "in_hand_updated")
        await applied(metrics, "buyer.in_hand_updated")
    po = await db.fetchrow("SELECT status, state FROM pos.purchase_orders")
    assert po is not None
    assert (po["status"], po["state"]) == ("canceled", "canceled")
    notes = [r["note"] for r in await history(db)]
    assert len(notes) == 3
    assert "kept (a newer version was applied)" in notes[2]


async def test_an_update_for_an_unknown_order_creates_its_purchase_order(
    processor_settings: ProcessorSettings, ingress: Client, db: asyncpg.Connection
) -> None:
    async with running(processor_settings) as metrics:
        await post(ingress, order("purchase_order"), "delivery_complete")
        await applied(metrics, "buyer.delivery_complete")
    po = await db.fetchrow("SELECT status, total, delivery_state FROM pos.purchase_orders")
    assert po is not None
    # no order_accepted seen: kept, but not opened as if the seller had accepted it
    assert tuple(po) == ("pending", Decimal("750.1"), "delivered")
    assert await count(db, "SELECT count(*) FROM pos.purchase_order_lines") == 2
    assert [r["event_type"] for r in await history(db)] == ["delivery_complete"]


@pytest.mark.parametrize("finalized_first", [True, False], ids=["before", "after"])
async def test_etickets_finalized_before_or_after_order_accepted_ends_finalized(
    processor_settings: ProcessorSettings,
    ingress: Client,
    db: asyncpg.Connection,
    finalized_first: bool,
) -> None:
    steps = [
        (order("etickets_finalized_item"), "etickets_finalized"),
        (order("purchase_order"), "order_accepted"),
    ]
    async with running(processor_settings) as metrics:
        # One at a time: the two go to different queues, so only this fixes their order.
        for body, event_type in steps if finalized_first else reversed(steps):
            await post(ingress, body, event_type)
            await applied(metrics, f"buyer.{event_type}")
    finalized = await db.fetch(
        "SELECT tevo_item_id FROM pos.purchase_order_lines WHERE etickets_finalized_at IS NOT NULL"
    )
    assert [row["tevo_item_id"] for row in finalized] == [ITEM_ID]
    assert await count(db, "SELECT count(*) FROM pos.pending_eticket_finalizations") == 0
    rows = await history(db)
    assert sorted(r["event_type"] for r in rows) == ["etickets_finalized", "order_accepted"]
    note = next(r["note"] for r in rows if r["event_type"] == "etickets_finalized")
    assert ("kept until the purchase order line arrives" in note) is finalized_first
