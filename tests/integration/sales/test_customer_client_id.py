"""A customer first created from an e-mail gains its TEvo client id when an order brings it."""

from __future__ import annotations

import asyncpg
import pytest

from tests.integration.sales.conftest import CLIENT_GROUP, Seller
from tests.payloads import order

pytestmark = pytest.mark.integration


async def test_a_customer_found_by_email_gains_the_client_id(
    seller: Seller, db: asyncpg.Connection
) -> None:
    first = order("order_client", buyer={"type": "Client", "name": "Jordan Avery"})
    first["client"] = {**first["client"], "id": None}
    await seller.send("order_created", first, CLIENT_GROUP)
    customer = await db.fetchrow("SELECT id, tevo_client_id FROM pos.customers")
    assert customer is not None
    assert customer["tevo_client_id"] is None
    second = order("order_client", id=10324801)  # the same e-mail, now with client id 3390021
    await seller.send("order_created", second, CLIENT_GROUP)
    rows = await db.fetch("SELECT id, tevo_client_id FROM pos.customers")
    assert [tuple(r) for r in rows] == [(customer["id"], 3390021)]
