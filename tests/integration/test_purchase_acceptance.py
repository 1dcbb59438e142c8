"""Purchase orders follow TEvo's word: opened only by `order_accepted`, lines as TEvo lists them.

Buyer webhooks are applied through the real transaction, inbox and history (`Applier`), in both
arrival orders; each pair must end in the same purchase order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from ingress.form import parse_form
from processor.handler import Deps, Inbound
from processor.metrics import ProcessorMetrics
from processor.registry import CONSUMERS
from processor.runtime.transaction import Applier
from processor.settings import ProcessorSettings
from tests.integration.conftest import apply_one
from tests.payloads import form, order

pytestmark = pytest.mark.integration

CONSUMER_BY_KEY = {key: consumer for consumer in CONSUMERS for key in consumer.routing_keys}
ORDER_ID = 10411530


@pytest.fixture
async def applier(
    database_url: str, processor_settings: ProcessorSettings
) -> AsyncIterator[Applier]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    yield Applier(pool, Deps(processor_settings), ProcessorMetrics())
    await pool.close()


async def deliver(applier: Applier, event_type: str, body: dict[str, Any]) -> None:
    raw = form(body, recipient="buyer", event_type=event_type, order_group_id=4651002)
    envelope = parse_form(raw.encode())
    inbound = Inbound(
        message_id=envelope.message_id,
        recipient="buyer",
        event_type=event_type,
        body=envelope.body,
        order_group_id=envelope.order_group_id,
        received_at=datetime.now(UTC),
    )
    await apply_one(applier, CONSUMER_BY_KEY[f"buyer.{event_type}"], inbound)


async def state(db: asyncpg.Connection) -> tuple[Any, ...]:
    po = await db.fetchrow(
        "SELECT id, status, accepted_seen, total FROM pos.purchase_orders WHERE tevo_order_id = $1",
        ORDER_ID,
    )
    assert po is not None
    lines = await db.fetch(
        "SELECT tevo_item_id, ticket_group_id, quantity, removed_at IS NOT NULL AS removed"
        " FROM pos.purchase_order_lines WHERE purchase_order_id = $1 ORDER BY tevo_item_id",
        po["id"],
    )
    return (po["status"], po["accepted_seen"], po["total"], [tuple(line) for line in lines])


@pytest.mark.parametrize("accepted_first", [True, False], ids=["accepted-first", "update-first"])
async def test_only_order_accepted_opens_and_lines_follow_the_newest_version(
    applier: Applier, db: asyncpg.Connection, accepted_first: bool
) -> None:
    accepted = order("purchase_order")
    # newer: the second item was substituted by another ticket group, under a new item id
    substitute = dict(accepted["items"][1], id=11907799)
    substitute["ticket_group"] = dict(substitute["ticket_group"], id=531009999)
    items = [accepted["items"][0], substitute]
    updated = order("purchase_order", items=items, updated_at="2026-11-23T09:00:00Z")
    steps = [("order_accepted", accepted), ("delivery_updated", updated)]
    for n, (event_type, body) in enumerate(steps if accepted_first else steps[::-1]):
        await deliver(applier, event_type, body)
        if n == 0 and not accepted_first:
            assert (await state(db))[:2] == ("pending", False)  # not opened as if accepted
    status, seen, _total, lines = await state(db)
    assert (status, seen) == ("open", True)
    assert lines == [
        (11907741, 531002871, 2, False),
        (11907742, 531002904, 4, True),  # substituted: shown, marked removed
        (11907799, 531009999, 4, False),
    ]
