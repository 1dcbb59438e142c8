"""Seller webhooks posted as TEvo's form, parsed as the ingress does, applied by the dispatcher.

These tests skip the broker hop (covered by the pipeline tests) and call `Applier.apply`, the
one function that runs a consumer's handler in a transaction with the inbox and history, against
a real database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from ingress.form import parse_form
from processor.handler import Deps, Inbound
from processor.metrics import ProcessorMetrics
from processor.registry import CONSUMERS
from processor.runtime.dispatch import Outcome
from processor.runtime.transaction import Applier
from processor.settings import ProcessorSettings
from tests.integration.conftest import apply_one, count
from tests.payloads import form

CONSUMER_BY_KEY = {key: consumer for consumer in CONSUMERS for key in consumer.routing_keys}
OFFICE_GROUP, CLIENT_GROUP = 4606857, 4606902
# the captured orders' ids (tests/fixtures/order_office*.json, order_client*.json)
OFFICE_ORDER, CLIENT_ORDER = 10324712, 10324800


def seller_webhook(
    event_type: str, body: dict[str, Any], order_group_id: int = OFFICE_GROUP
) -> Inbound:
    """The webhook TEvo would post, as the processor receives it from the broker."""
    envelope = parse_form(form(body, event_type=event_type, order_group_id=order_group_id).encode())
    return Inbound(
        message_id=envelope.message_id,
        recipient=envelope.recipient.value,
        event_type=envelope.event_type,
        body=envelope.body,
        order_group_id=envelope.order_group_id,
        received_at=datetime.now(UTC),
    )


@dataclass
class Seller:
    """Delivers seller webhooks to their registered consumer through the real dispatch path."""

    applier: Applier

    async def deliver(self, inbound: Inbound) -> Outcome:
        consumer = CONSUMER_BY_KEY[f"{inbound.recipient}.{inbound.event_type}"]
        return await apply_one(self.applier, consumer, inbound)

    async def send(
        self, event_type: str, body: dict[str, Any], order_group_id: int = OFFICE_GROUP
    ) -> Outcome:
        return await self.deliver(seller_webhook(event_type, body, order_group_id))


@pytest.fixture
def make_seller(
    pool: asyncpg.Pool,
    processor_settings: ProcessorSettings,
) -> Callable[..., Seller]:
    def make(*, riskified: bool = True) -> Seller:
        settings = processor_settings.model_copy(update={"riskified": riskified})
        return Seller(Applier(pool, Deps(settings), ProcessorMetrics()))

    return make


@pytest.fixture
def seller(make_seller: Callable[..., Seller]) -> Seller:
    """Riskified in use, as by default."""
    return make_seller()


async def sale(db: asyncpg.Connection, tevo_order_id: int) -> asyncpg.Record:
    row = await db.fetchrow("SELECT * FROM pos.sales WHERE tevo_order_id = $1", tevo_order_id)
    assert row is not None
    return row


async def invoices(db: asyncpg.Connection, tevo_order_id: int) -> int:
    return await count(
        db, "SELECT count(*) FROM pos.invoices WHERE tevo_order_id = $1", tevo_order_id
    )
