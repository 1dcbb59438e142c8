"""Batches on a real broker and database: one message failing in a batch is rolled back, retried
or dead-lettered alone while the rest commit; a batch failing as a whole commits nothing and
each of its messages is applied on its own; nothing is acked before its commit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import pytest

from contracts import Recipient, WebhookEnvelope
from contracts import envelope as h
from processor.errors import Conflict, ContractViolation, ProcessingError, UpstreamUnavailable
from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.metrics import ProcessorMetrics
from processor.registry import CONSUMERS
from processor.runtime.topology import declare
from processor.settings import ProcessorSettings
from tests.conftest import Services
from tests.integration.conftest import count, eventually, outcomes, queue_depth, running
from tests.payloads import order

pytestmark = pytest.mark.integration

PICKY = "test.picky"
PICKY_EVENT = "picky_event"
ORDERS = list(range(801, 806))


@dataclass
class Picky:
    """A test consumer: writes a row per order, and raises the error planned for an order once."""

    planned: dict[int, ProcessingError] = field(default_factory=dict)
    calls: list[tuple[int, Any]] = field(default_factory=list)  # (order id, attempts header)

    async def handle(self, inbound: Inbound, conn: Connection, _deps: Deps) -> Applied:
        order_id = inbound.order().id
        self.calls.append((order_id, inbound.headers.get(h.HEADER_ATTEMPTS)))
        # a write before the failure, for the savepoint to undo
        await conn.execute("INSERT INTO picky_writes (order_id) VALUES ($1)", order_id)
        if order_id in self.planned:
            raise self.planned.pop(order_id)
        return Applied(order_id, "picky applied")


@pytest.fixture
def batched(processor_settings: ProcessorSettings) -> ProcessorSettings:
    """Deliveries linger long enough to be in one batch: the backlog is published beforehand."""
    processor_settings.batch_linger = 0.5
    return processor_settings


@pytest.fixture
async def picky(
    batched: ProcessorSettings, services: Services, db: asyncpg.Connection
) -> AsyncIterator[Picky]:
    await db.execute("CREATE TABLE picky_writes (order_id bigint NOT NULL)")
    yield Picky()
    connection = await aio_pika.connect(services.amqp_url)
    async with connection:
        channel = await connection.channel()
        for queue in (PICKY, f"{PICKY}.dead"):
            await channel.queue_delete(batched.topology.consumer_queue(queue))


async def publish(
    settings: ProcessorSettings, consumer: Consumer, bodies: list[bytes], event_type: str
) -> None:
    """A backlog, published as the ingress would, before any processor consumes it."""
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare(channel, settings.topology, [consumer], settings.retry_delays)
        exchange = await channel.get_exchange(settings.topology.webhooks_exchange)
        for body in bodies:
            envelope = WebhookEnvelope(
                recipient=Recipient.SELLER, event_type=event_type, body=body, order_group_id=4606857
            )
            message = aio_pika.Message(
                body,
                message_id=envelope.message_id,
                headers=envelope.headers(datetime.now(UTC)),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await exchange.publish(message, envelope.routing_key)


def _bodies(ids: list[int], **changes: Any) -> list[bytes]:
    return [json.dumps(order(id=i, **changes)).encode() for i in ids]


def batched_messages(metrics: ProcessorMetrics, consumer: str) -> int:
    """Messages in the batches `consumer` committed."""
    labels = {"consumer": consumer}
    value = metrics.registry.get_sample_value("tevo_processor_batch_messages_sum", labels)
    return int(value or 0)


def fallbacks(metrics: ProcessorMetrics, consumer: str) -> int:
    value = metrics.registry.get_sample_value(
        "tevo_processor_batch_fallbacks_total", {"consumer": consumer}
    )
    return int(value or 0)


async def _history(db: asyncpg.Connection) -> list[int]:
    rows = await db.fetch("SELECT tevo_order_id FROM pos.order_history ORDER BY 1")
    return [r["tevo_order_id"] for r in rows]


async def test_one_failing_message_is_retried_or_dead_lettered_alone_and_the_batch_commits(
    batched: ProcessorSettings, picky: Picky, db: asyncpg.Connection
) -> None:
    picky.planned[802] = ContractViolation("body is not an order: id")  # dead-lettered at once
    picky.planned[804] = UpstreamUnavailable("TEvo's API timed out")  # retried after 1 s
    consumer = Consumer(PICKY, (f"seller.{PICKY_EVENT}",), picky.handle)
    await publish(batched, consumer, _bodies(ORDERS), PICKY_EVENT)
    async with running(batched, [consumer]) as metrics:

        async def settled() -> bool | None:
            applied = len(await _history(db)) == 4
            return (applied and outcomes(metrics, PICKY, "dead_lettered") == 1) or None

        await eventually(settled, within=20)
        assert batched_messages(metrics, PICKY) >= 4  # the first batch held all five
        assert fallbacks(metrics, PICKY) == 0
        assert outcomes(metrics, PICKY, "retried") == 1
    assert await _history(db) == [801, 803, 804, 805]
    # the failed messages' writes were rolled back with their savepoints
    writes = await db.fetch("SELECT order_id FROM picky_writes ORDER BY 1")
    assert [r["order_id"] for r in writes] == [801, 803, 804, 805]
    assert [a for o, a in picky.calls if o == 804] == [None, 1]
    assert [o for o, _ in picky.calls].count(801) == 1  # applied once: no fallback, no retry


async def test_a_conflict_fails_the_batch_and_each_message_is_then_applied_on_its_own(
    batched: ProcessorSettings, picky: Picky, db: asyncpg.Connection
) -> None:
    picky.planned[803] = Conflict("DeadlockDetectedError (sqlstate 40P01)")
    consumer = Consumer(PICKY, (f"seller.{PICKY_EVENT}",), picky.handle)
    await publish(batched, consumer, _bodies(ORDERS), PICKY_EVENT)
    async with running(batched, [consumer]) as metrics:

        async def applied() -> bool | None:
            return len(await _history(db)) == len(ORDERS) or None

        await eventually(applied, within=20)
        assert fallbacks(metrics, PICKY) == 1
        assert outcomes(metrics, PICKY, "applied") == len(ORDERS)
        assert outcomes(metrics, PICKY, "retried") == 0  # the retry on its own was enough
    assert await _history(db) == ORDERS
    # the batch's writes were all rolled back: one row each, from the transactions on their own
    assert await count(db, "SELECT count(*) FROM picky_writes") == len(ORDERS)
    assert await count(db, "SELECT count(*) FROM pos.inbox") == len(ORDERS)


async def test_a_statement_postgres_refuses_mid_batch_spares_the_other_sales(
    batched: ProcessorSettings, db: asyncpg.Connection, amqp: aio_pika.abc.AbstractChannel
) -> None:
    (seller,) = [c for c in CONSUMERS if c.name == "seller.order_created"]
    bodies = _bodies(ORDERS)
    # jsonb cannot hold \u0000: Postgres refuses the sale's raw body, aborting the transaction
    bodies[2] = json.dumps(order(id=ORDERS[2], oid="\u0000")).encode()
    await publish(batched, seller, bodies, "order_created")
    async with running(batched, [seller]) as metrics:

        async def settled() -> bool | None:
            dead = outcomes(metrics, seller.name, "dead_lettered") == 1
            return (dead and await count(db, "SELECT count(*) FROM pos.invoices") == 4) or None

        await eventually(settled, within=20)
        assert fallbacks(metrics, seller.name) == 0
        assert batched_messages(metrics, seller.name) >= 4
    sales = await db.fetch("SELECT tevo_order_id FROM pos.sales ORDER BY 1")
    assert [r["tevo_order_id"] for r in sales] == [o for o in ORDERS if o != ORDERS[2]]
    dead = batched.topology.dead_letter_queue(seller.name)
    assert await queue_depth(amqp, dead) == 1
