"""Orders applied at the same time: one customer per client, one invoice per sale, no retries."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from processor.runtime.dispatch import Outcome
from tests.integration.conftest import count
from tests.integration.sales.conftest import CLIENT_GROUP, Seller
from tests.payloads import order

pytestmark = pytest.mark.integration

NEW_CLIENT = 4_410_001


def client_order(order_id: int, *, guest: bool) -> dict[str, object]:
    """An approved order of the new client; a guest checkout has no client id, only the e-mail."""
    email = " New.Client@Example.com" if guest else "new.client@example.com"
    client: dict[str, object] = {
        "name": "Riley Chen",
        "email_addresses": [{"address": email}],
        "phone_numbers": [{"number": "555-0199"}],
    }
    if not guest:
        client["id"] = NEW_CLIENT
    buyer = {"type": "Client", "name": "Riley Chen", **({} if guest else {"id": NEW_CLIENT})}
    return order("order_client_approved", id=order_id, buyer=buyer, client=client)


async def test_a_dozen_concurrent_orders_of_a_new_client_make_one_customer(
    seller: Seller, db: asyncpg.Connection
) -> None:
    orders = [client_order(10_500_000 + n, guest=n % 3 == 0) for n in range(12)]
    outcomes = await asyncio.gather(
        *(seller.send("order_created", body, CLIENT_GROUP) for body in orders)
    )
    # every one applied on its first attempt: the insert race resolved inside the transaction
    assert outcomes == [Outcome.APPLIED] * 12
    customers = await db.fetch("SELECT id, tevo_client_id, email FROM pos.customers")
    assert len(customers) == 1
    # whichever order won the race made it, with or without the client id; e-mail trimmed
    assert customers[0]["tevo_client_id"] in (NEW_CLIENT, None)
    assert customers[0]["email"].lower() == "new.client@example.com"
    linked = await db.fetchval("SELECT array_agg(DISTINCT customer_id) FROM pos.invoices")
    assert linked == [customers[0]["id"]]
    assert await count(db, "SELECT count(*) FROM pos.sales WHERE status = 'invoiced'") == 12


async def test_one_orders_webhooks_at_the_same_time_invoice_it_once(
    seller: Seller, db: asyncpg.Connection
) -> None:
    pending = [
        order("order_client", updated_at=f"2026-11-21T09:{m:02d}:00Z", fraud_check_status="pending")
        for m in range(3, 6)
    ]
    approvals = [
        order("order_client_approved", updated_at=f"2026-11-21T09:{m:02d}:00Z") for m in (7, 8)
    ]
    webhooks = [("order_created", order("order_client"))] + [
        ("fraud_response_received", body) for body in (*pending, *approvals)
    ]
    outcomes = await asyncio.gather(
        *(seller.send(event_type, body, CLIENT_GROUP) for event_type, body in webhooks * 2)
    )
    assert sorted(outcomes) == sorted([Outcome.APPLIED] * 6 + [Outcome.DUPLICATE] * 6)
    assert await count(db, "SELECT count(*) FROM pos.invoices") == 1
    assert await count(db, "SELECT count(*) FROM pos.invoice_lines") == 1
    row = await db.fetchrow("SELECT status, fraud_status_at FROM pos.sales")
    assert row is not None
    assert (row["status"], row["fraud_status_at"].isoformat()) == (
        "invoiced",
        "2026-11-21T09:08:00+00:00",
    )
