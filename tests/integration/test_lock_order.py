"""Every transaction takes its locks in one order, so two never deadlock in Postgres.

A single delivery and a batch that both hold a copy of one message, and two batches of e-ticket
finalizations whose items belong to the same orders, are lined up behind a lock the test holds
on those orders and let go at once: the worst interleaving, every time. Each test then checks
that no transaction failed (no retry, no batch fallback) and that Postgres counted no deadlock.
"""

from __future__ import annotations

import asyncio
import functools
import json
from datetime import UTC, datetime
from typing import Any, cast

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractIncomingMessage

from contracts import Recipient, WebhookEnvelope
from processor.handler import Deps
from processor.metrics import ProcessorMetrics
from processor.pos import purchases, sales
from processor.registry import CONSUMERS
from processor.runtime.dispatch import Dispatcher, Outcome
from processor.settings import ProcessorSettings
from tests.integration.conftest import count, eventually
from tests.payloads import order

pytestmark = pytest.mark.integration

BY_NAME = {consumer.name: consumer for consumer in CONSUMERS}
DEADLOCKS_SQL = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
# Backends of the test's database waiting for a lock: an order's (advisory), or a message's
# inbox row that another transaction claimed.
WAITING_SQL = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'
"""


class Delivery:
    """What the dispatcher reads of a RabbitMQ delivery, as the ingress published it."""

    def __init__(self, recipient: Recipient, event_type: str, body: dict[str, Any]) -> None:
        envelope = WebhookEnvelope(
            recipient=recipient,
            event_type=event_type,
            body=json.dumps(body).encode(),
            order_group_id=4606857,
        )
        self.headers = envelope.headers(datetime.now(UTC))
        self.body = envelope.body
        self.message_id = envelope.message_id
        self.routing_key = envelope.routing_key
        self.content_type, self.timestamp, self.app_id = "application/json", None, "ingress"
        self.acks = 0
        self.delivery_tag = None  # the dispatcher was not told of it: acked on its own

    async def ack(self, multiple: bool = False) -> None:
        assert not multiple
        self.acks += 1

    async def nack(self, requeue: bool = True) -> None:
        raise AssertionError(f"nack(requeue={requeue}): the broker was not down")


@pytest.fixture
def dispatcher(
    pool: asyncpg.Pool,
    processor_settings: ProcessorSettings,
    amqp: aio_pika.abc.AbstractChannel,
) -> Dispatcher:
    settings = processor_settings.model_copy(update={"handler_timeout": 10.0})
    deps = Deps(settings)
    return Dispatcher(pool, amqp, settings.topology, deps, ProcessorMetrics())


async def released_at_once(
    db: asyncpg.Connection, lock_sql: str, order_ids: list[int], *work: Any
) -> list[Any]:
    """Run `work` while `db` holds the orders' locks, each task queued behind them in turn,
    then let go of them all at once; what each task returned."""
    holder = db.transaction()
    await holder.start()
    for order_id in order_ids:
        await db.execute(lock_sql, order_id)
    tasks = []
    for step in work:
        tasks.append(asyncio.create_task(step))
        await eventually(functools.partial(_waiting, db, len(tasks)))
    await holder.commit()
    return await asyncio.wait_for(asyncio.gather(*tasks), timeout=20)


async def _waiting(db: asyncpg.Connection, at_least: int) -> bool:
    await db.execute("SELECT pg_stat_clear_snapshot()")  # else `db`'s transaction sees its first
    return await count(db, WAITING_SQL) >= at_least


def _no_retries(dispatcher: Dispatcher, consumer: str) -> None:
    sample = dispatcher.metrics.registry.get_sample_value
    assert not sample("tevo_processor_batch_fallbacks_total", {"consumer": consumer})
    for outcome in (Outcome.RETRIED, Outcome.DEAD_LETTERED, Outcome.REQUEUED):
        labels = {"consumer": consumer, "outcome": outcome.value}
        assert not sample("tevo_processor_messages_total", labels), outcome


async def _deadlocks(pool: asyncpg.Pool, db: asyncpg.Connection) -> int:
    """Deadlocks Postgres counted in the test's database, once every backend that could have
    met one has exited (a backend reports its counts by then at the latest)."""
    await pool.close()
    others = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND backend_type = 'client backend'"
    )
    await eventually(lambda: _alone_in_database(db, others))
    await db.execute("SELECT pg_stat_clear_snapshot()")
    return await count(db, DEADLOCKS_SQL)


async def _alone_in_database(db: asyncpg.Connection, others: str) -> bool:
    return await count(db, others) == 1


async def test_a_delivery_and_a_batch_holding_the_same_message_do_not_deadlock(
    dispatcher: Dispatcher, pool: asyncpg.Pool, db: asyncpg.Connection
) -> None:
    consumer = BY_NAME["seller.order_created"]
    twice = [Delivery(Recipient.SELLER, "order_created", order(id=10324712)) for _ in range(2)]
    other = Delivery(Recipient.SELLER, "order_created", order(id=10324713))
    deliveries = cast(list[AbstractIncomingMessage], [*twice, other])
    before = await count(db, DEADLOCKS_SQL)
    # The batch queues first for order 10324712's lock, the single copy of its message second.
    batch, alone = await released_at_once(
        db,
        sales.LOCK_SQL,
        [10324712],
        dispatcher.handle_batch(consumer, [deliveries[0], deliveries[2]]),
        dispatcher.handle_batch(consumer, [deliveries[1]]),
    )
    assert sorted([*batch, *alone]) == sorted([Outcome.APPLIED] * 2 + [Outcome.DUPLICATE])
    assert [d.acks for d in [*twice, other]] == [1, 1, 1]
    _no_retries(dispatcher, consumer.name)
    assert await count(db, "SELECT count(*) FROM pos.invoices") == 2
    assert await _deadlocks(pool, db) == before


async def test_batches_of_eticket_finalizations_lock_their_orders_in_one_order(
    dispatcher: Dispatcher, pool: asyncpg.Pool, db: asyncpg.Connection
) -> None:
    consumer = BY_NAME["buyer.etickets_finalized"]
    low, high = 9100001, 9100002

    def item(item_id: int, order_id: int) -> Delivery:
        body = order("etickets_finalized_item", id=item_id, order_id=order_id)
        return Delivery(Recipient.BUYER, "etickets_finalized", body)

    # By item id, the first batch would lock the high order first, the second the low one.
    first = cast(list[AbstractIncomingMessage], [item(1, high), item(2, low)])
    second = cast(list[AbstractIncomingMessage], [item(3, low), item(4, high)])
    before = await count(db, DEADLOCKS_SQL)
    outcomes = await released_at_once(
        db,
        purchases.LOCK_SQL,
        [low, high],
        dispatcher.handle_batch(consumer, first),
        dispatcher.handle_batch(consumer, second),
    )
    assert outcomes == [[Outcome.APPLIED] * 2] * 2
    _no_retries(dispatcher, consumer.name)
    waiting = "SELECT count(*) FROM pos.pending_eticket_finalizations"
    assert await count(db, waiting) == 4
    assert await _deadlocks(pool, db) == before
