"""A sale stored without versions (before migration 006, or by the previous release during a
rollout) keeps what it knew: its stored body becomes its first version."""

from __future__ import annotations

from decimal import Decimal

import asyncpg
import pytest

from tests.integration.conftest import count
from tests.integration.sales.conftest import OFFICE_ORDER, Seller, sale
from tests.payloads import order

pytestmark = pytest.mark.integration


async def test_a_sale_without_versions_adopts_its_stored_body(
    seller: Seller, db: asyncpg.Connection
) -> None:
    newer = order("order_office_delivery_updated", shipping="25.0", total="571.6")
    await seller.send("delivery_updated", newer)
    await db.execute("DELETE FROM pos.sale_versions")  # as the previous release left it
    await seller.send("order_created", order("order_office"))  # older, arriving late
    row = await sale(db, OFFICE_ORDER)
    assert (row["state"], row["total"]) == ("completed", Decimal("571.6"))
    assert await count(db, "SELECT count(*) FROM pos.sale_versions") == 2
    total = await db.fetchval("SELECT total FROM pos.invoices")
    assert total == Decimal("571.6")
