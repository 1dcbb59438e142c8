"""Purchase orders end the same whatever order, copies and concurrency their webhooks come in.

These run the dispatcher's own transaction (`Applier.apply`: handler, inbox, history) against
a real Postgres, without going through the queues, so that arrival order is the test's to choose.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from contracts import message_id
from processor.errors import ContractViolation
from processor.handler import Deps, Inbound
from processor.metrics import ProcessorMetrics
from processor.registry import CONSUMERS
from processor.runtime.dispatch import Outcome
from processor.runtime.transaction import Applier
from processor.settings import ProcessorSettings
from tests.integration.conftest import apply_one
from tests.payloads import order

pytestmark = pytest.mark.integration

GROUP_ID = 4651002
BY_NAME = {consumer.name: consumer for consumer in CONSUMERS}
FINALIZED_AT = datetime(2026, 11, 23, 10, 41, 17, tzinfo=UTC)  # the item fixture's updated_at


def inbound(event_type: str, body: dict[str, Any]) -> Inbound:
    raw = json.dumps(body).encode()
    return Inbound(
        message_id=message_id("buyer", event_type, GROUP_ID, raw),
        recipient="buyer",
        event_type=event_type,
        body=raw,
        order_group_id=GROUP_ID,
        received_at=datetime.now(UTC),
    )


def webhooks(order_id: int) -> list[Inbound]:
    """The life of one purchase, each webhook carrying the order as it was then."""
    accepted = order("purchase_order", id=order_id)
    in_hand = json.loads(json.dumps(accepted))
    in_hand["items"][0]["ticket_group"]["in_hand_on"] = "2026-11-28"
    in_hand["updated_at"] = "2026-11-24T12:00:00Z"
    shipped = {**in_hand, "updated_at": "2026-11-25T16:00:00Z"}
    canceled = {**shipped, "state": "canceled", "updated_at": "2026-11-26T08:00:00Z"}
    item = order("etickets_finalized_item", order_id=order_id)
    return [
        inbound("order_accepted", accepted),
        inbound("in_hand_updated", in_hand),
        inbound("delivery_shipped", shipped),
        inbound("etickets_finalized", item),
        inbound("order_canceled", canceled),
    ]


EXPECTED = {
    "status": "canceled",
    "state": "canceled",
    "total": Decimal("750.1"),
    "in_hand_on": date(2026, 11, 28),
    "delivery_state": "shipped",
    "lines": [(11907741, 2, Decimal("185.25"), FINALIZED_AT), (11907742, 4, Decimal("92.4"), None)],
    "history": 5,
    "waiting": 0,
}


async def outcome_of(conn: asyncpg.Connection, order_id: int) -> dict[str, Any]:
    po = await conn.fetchrow(
        "SELECT id, status, state, total, in_hand_on, delivery_state FROM pos.purchase_orders"
        " WHERE tevo_order_id = $1",
        order_id,
    )
    assert po is not None
    lines = await conn.fetch(
        "SELECT tevo_item_id, quantity, price, etickets_finalized_at"
        " FROM pos.purchase_order_lines WHERE purchase_order_id = $1 ORDER BY tevo_item_id",
        po["id"],
    )
    return {
        **{key: po[key] for key in ("status", "state", "total", "in_hand_on", "delivery_state")},
        "lines": [tuple(line) for line in lines],
        "history": await conn.fetchval(
            "SELECT count(*) FROM pos.order_history WHERE tevo_order_id = $1", order_id
        ),
        "waiting": await conn.fetchval(
            "SELECT count(*) FROM pos.pending_eticket_finalizations WHERE tevo_order_id = $1",
            order_id,
        ),
    }


@pytest.fixture
async def applier(processor_settings: ProcessorSettings) -> AsyncIterator[Applier]:
    pool = await asyncpg.create_pool(processor_settings.database_url, min_size=1, max_size=10)
    yield Applier(pool, Deps(processor_settings), ProcessorMetrics())
    await pool.close()


async def apply(applier: Applier, message: Inbound) -> Outcome:
    return await apply_one(applier, BY_NAME[f"buyer.{message.event_type}"], message)


async def test_every_arrival_order_ends_in_the_same_purchase_order(
    applier: Applier, db: asyncpg.Connection
) -> None:
    orders = list(itertools.permutations(range(5)))
    assert len(orders) == 120

    async def deliver(n: int, arrival: tuple[int, ...]) -> None:
        messages = webhooks(20_000_000 + n)
        for index in arrival:
            assert await apply(applier, messages[index]) is Outcome.APPLIED

    await asyncio.gather(*(deliver(n, arrival) for n, arrival in enumerate(orders)))
    for n, arrival in enumerate(orders):
        assert await outcome_of(db, 20_000_000 + n) == EXPECTED, f"arrival order {arrival}"


async def test_concurrent_copies_of_every_webhook_make_one_purchase_order(
    applier: Applier, db: asyncpg.Connection
) -> None:
    # All at once and twice each: the per-order lock, not luck, keeps one row and one outcome.
    messages = webhooks(30_000_000) * 2
    results = await asyncio.gather(*(apply(applier, message) for message in messages))
    assert sorted(results) == sorted([Outcome.APPLIED] * 5 + [Outcome.DUPLICATE] * 5)
    assert await outcome_of(db, 30_000_000) == EXPECTED
    assert await db.fetchval("SELECT count(*) FROM pos.purchase_orders") == 1


async def test_an_order_item_without_an_order_is_a_contract_violation(
    applier: Applier, db: asyncpg.Connection
) -> None:
    item = order("etickets_finalized_item")
    del item["order_id"]
    with pytest.raises(ContractViolation, match="order_id"):
        await apply(applier, inbound("etickets_finalized", item))
    assert await db.fetchval("SELECT count(*) FROM pos.inbox") == 0  # rolled back


@pytest.mark.parametrize("reverse", [False, True], ids=["in order", "reversed"])
async def test_at_equal_updated_at_the_further_step_wins(
    applier: Applier, db: asyncpg.Connection, reverse: bool
) -> None:
    # TEvo need not touch `updated_at` for every step: ties must not fall to arrival order.
    body = order("purchase_order", id=40_000_000)
    messages = [
        inbound("order_accepted", body),
        inbound("delivery_shipped", body),
        inbound("delivery_complete", body),
        inbound("order_canceled", {**body, "state": "canceled"}),
    ]
    for message in reversed(messages) if reverse else messages:
        assert await apply(applier, message) is Outcome.APPLIED
    outcome = await outcome_of(db, 40_000_000)
    assert (outcome["status"], outcome["state"], outcome["delivery_state"]) == (
        "canceled",
        "canceled",
        "delivered",
    )
