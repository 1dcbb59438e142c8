"""No deadlocks under concurrent, duplicate-heavy load: Postgres' own counter says so.

A backlog published before the processor starts fills every consumer's batches at once: office
sales, first orders of new clients (their customer is created by whichever order gets there
first), purchase orders and their e-ticket finalizations (before and after the order), cancels
racing their orders, and every message twice. The database's `pg_stat_database.deadlocks` must
not grow: a deadlock is a rolled-back batch and a retry, and under load a storm of them.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import pytest

from contracts import Recipient, WebhookEnvelope
from processor.registry import CONSUMERS
from processor.runtime.topology import declare
from processor.settings import ProcessorSettings
from tests.integration.conftest import count, eventually, outcomes, running
from tests.payloads import order

pytestmark = pytest.mark.integration

OFFICE_SALES = range(12_600_000, 12_600_060)
CLIENTS = range(4_700_000, 4_700_008)  # new clients, three first orders each
PURCHASES = range(10_700_000, 10_700_012)
COPIES = 2
FINALIZED_LINES = (
    "SELECT count(*) FROM pos.purchase_order_lines WHERE etickets_finalized_at IS NOT NULL"
)


def _client_order(order_id: int, client_id: int) -> dict[str, Any]:
    client = {
        "id": client_id,
        "name": "Pat Doe",
        "email_addresses": [{"address": f"c{client_id}@example.com"}],
    }
    buyer = {"type": "Client", "id": client_id, "name": "Pat Doe"}
    return order("order_client_approved", id=order_id, buyer=buyer, client=client)


def _purchase(order_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A purchase order and its e-ticket finalizations, one per item, with ids of their own."""
    body = order("purchase_order", id=order_id, oid=f"P{order_id}")
    items, finalized = [], []
    for n, item in enumerate(body["items"]):
        item_id = order_id * 10 + n
        items.append({**item, "id": item_id})
        finalized.append(order("etickets_finalized_item", id=item_id, order_id=order_id))
    body["items"] = items
    return body, finalized


def backlog() -> list[tuple[Recipient, str, dict[str, Any]]]:
    """Every webhook of the load, each `COPIES` times, in a shuffled (but fixed) order."""
    hooks: list[tuple[Recipient, str, dict[str, Any]]] = []
    for order_id in OFFICE_SALES:
        hooks.append((Recipient.SELLER, "order_created", order(id=order_id)))
        if order_id % 5 == 0:  # a cancel racing its order, on another consumer
            canceled = order("order_office_canceled", id=order_id)
            hooks.append((Recipient.SELLER, "order_canceled", canceled))
    for n, client_id in enumerate(CLIENTS):
        for k in range(3):
            order_id = 12_700_000 + n * 10 + k
            hooks.append((Recipient.SELLER, "order_created", _client_order(order_id, client_id)))
    for order_id in PURCHASES:
        body, finalized = _purchase(order_id)
        hooks.append((Recipient.BUYER, "order_accepted", body))
        hooks += [(Recipient.BUYER, "etickets_finalized", f) for f in finalized]
    copies = hooks * COPIES
    random.Random(13).shuffle(copies)  # noqa: S311 - a fixed test order, not a secret
    return copies


async def publish(
    settings: ProcessorSettings, hooks: list[tuple[Recipient, str, dict[str, Any]]]
) -> None:
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare(channel, settings.topology, CONSUMERS, settings.retry_delays)
        exchange = await channel.get_exchange(settings.topology.webhooks_exchange)
        for recipient, event_type, body in hooks:
            raw = json.dumps(body).encode()
            envelope = WebhookEnvelope(
                recipient=recipient, event_type=event_type, body=raw, order_group_id=4606857
            )
            message = aio_pika.Message(
                raw,
                message_id=envelope.message_id,
                headers=envelope.headers(datetime.now(UTC)),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await exchange.publish(message, envelope.routing_key)


async def deadlocks(db: asyncpg.Connection) -> int:
    await db.execute("SELECT pg_stat_clear_snapshot()")  # a fresh read, not this session's cache
    return await count(
        db, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    )


async def test_concurrent_duplicate_heavy_load_makes_no_deadlock(
    processor_settings: ProcessorSettings, db: asyncpg.Connection
) -> None:
    processor_settings.batch_linger = 0.05  # batches fill from the backlog
    hooks = backlog()
    before = await deadlocks(db)
    await publish(processor_settings, hooks)
    sales = len(OFFICE_SALES) + 3 * len(CLIENTS)
    async with running(processor_settings) as metrics:

        async def applied() -> bool | None:
            done = await count(db, "SELECT count(*) FROM pos.sales") == sales
            finalized = await count(db, FINALIZED_LINES)
            return (done and finalized == 2 * len(PURCHASES)) or None

        await eventually(applied, within=120, interval=0.5)
    # the pool is closed: every backend has reported its statistics
    grown = await deadlocks(db) - before
    retried = sum(outcomes(metrics, c.name, "retried") for c in CONSUMERS)
    assert grown == 0, f"{grown} deadlocks ({retried} retries) over {len(hooks)} messages"
    assert await count(
        db, "SELECT count(*) FROM pos.customers WHERE tevo_client_id IS NOT NULL"
    ) == len(CLIENTS)
