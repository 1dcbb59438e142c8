"""`seller.fraud_response_received`: approvals, declines, pendings, in any order, once."""

from __future__ import annotations

import asyncpg
import pytest

from processor.runtime.dispatch import Outcome
from tests.integration.conftest import count
from tests.integration.sales.conftest import CLIENT_GROUP, CLIENT_ORDER, Seller, invoices, sale
from tests.payloads import order

pytestmark = pytest.mark.integration


async def test_approval_invoices_a_waiting_sale_once(
    seller: Seller, db: asyncpg.Connection
) -> None:
    await seller.send("order_created", order("order_client"), CLIENT_GROUP)
    await seller.send("fraud_response_received", order("order_client_approved"), CLIENT_GROUP)
    again = order("order_client_approved", updated_at="2026-11-21T09:09:00Z")
    await seller.send("fraud_response_received", again, CLIENT_GROUP)
    row = await sale(db, CLIENT_ORDER)
    assert (row["status"], row["review_reason"]) == ("invoiced", None)
    assert await invoices(db, CLIENT_ORDER) == 1
    notes = await db.fetch(
        "SELECT note FROM pos.order_history WHERE tevo_order_id = $1 ORDER BY id", CLIENT_ORDER
    )
    assert [n["note"] for n in notes] == [
        "new -> awaiting_fraud_check",
        "awaiting_fraud_check -> invoiced; invoice created",
        "invoiced -> invoiced",
    ]


async def test_approval_before_order_created_invoices_and_creation_changes_nothing(
    seller: Seller, db: asyncpg.Connection
) -> None:
    await seller.send("fraud_response_received", order("order_client_approved"), CLIENT_GROUP)
    assert (await sale(db, CLIENT_ORDER))["status"] == "invoiced"
    await seller.send("order_created", order("order_client"), CLIENT_GROUP)
    row = await sale(db, CLIENT_ORDER)
    assert (row["status"], row["fraud_check_status"]) == ("invoiced", "approved")
    assert row["order_updated_at"].isoformat() == "2026-11-21T09:07:12+00:00"
    assert await invoices(db, CLIENT_ORDER) == 1
    assert await count(db, "SELECT count(*) FROM pos.order_history") == 2


async def test_decline_closes_a_waiting_sale_and_pending_changes_nothing(
    seller: Seller, db: asyncpg.Connection
) -> None:
    await seller.send("order_created", order("order_client"), CLIENT_GROUP)
    pending = order("order_client", updated_at="2026-11-21T09:04:00Z")
    await seller.send("fraud_response_received", pending, CLIENT_GROUP)
    assert (await sale(db, CLIENT_ORDER))["status"] == "awaiting_fraud_check"
    await seller.send("fraud_response_received", order("order_client_declined"), CLIENT_GROUP)
    row = await sale(db, CLIENT_ORDER)
    assert (row["status"], row["review_reason"]) == ("fraud_declined", None)
    assert await invoices(db, CLIENT_ORDER) == 0


async def test_a_decline_after_the_invoice_voids_it_and_flags_the_sale(
    seller: Seller, db: asyncpg.Connection
) -> None:
    await seller.send("fraud_response_received", order("order_client_approved"), CLIENT_GROUP)
    late = order("order_client_declined", updated_at="2026-11-21T10:30:00Z")
    await seller.send("fraud_response_received", late, CLIENT_GROUP)
    row = await sale(db, CLIENT_ORDER)
    assert (row["status"], row["fraud_check_status"]) == ("fraud_declined", "declined")
    assert row["review_reason"] == "conflicting fraud decisions"
    voided = await db.fetchval(
        "SELECT void_reason FROM pos.invoices WHERE tevo_order_id = $1", CLIENT_ORDER
    )
    assert voided == "fraud declined"


async def test_the_same_webhook_twice_is_applied_once(
    seller: Seller, db: asyncpg.Connection
) -> None:
    body = order("order_client_approved")
    assert await seller.send("fraud_response_received", body, CLIENT_GROUP) is Outcome.APPLIED
    assert await seller.send("fraud_response_received", body, CLIENT_GROUP) is Outcome.DUPLICATE
    assert await count(db, "SELECT count(*) FROM pos.order_history") == 1
    assert await invoices(db, CLIENT_ORDER) == 1
