"""`seller.order_created`: Office, Client and other buyers, customers, Riskified on and off."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import asyncpg
import pytest

from processor.runtime.dispatch import Outcome
from tests.integration.conftest import count
from tests.integration.sales.conftest import (
    CLIENT_GROUP,
    CLIENT_ORDER,
    OFFICE_ORDER,
    Seller,
    invoices,
    sale,
)
from tests.payloads import order

pytestmark = pytest.mark.integration


async def test_office_order_is_invoiced_to_the_office_customer_with_its_lines(
    seller: Seller, db: asyncpg.Connection
) -> None:
    assert await seller.send("order_created", order("order_office")) is Outcome.APPLIED

    row = await sale(db, OFFICE_ORDER)
    assert (row["status"], row["buyer_type"], row["buyer_id"]) == ("invoiced", "Office", 6)
    customer = await db.fetchrow("SELECT * FROM pos.customers WHERE id = $1", row["customer_id"])
    assert customer is not None
    assert (customer["tevo_office_id"], customer["tevo_client_id"]) == (6, None)
    assert customer["name"] == "Ticket Evolution, Inc. - Main Office"
    invoice = await db.fetchrow("SELECT * FROM pos.invoices WHERE tevo_order_id = $1", OFFICE_ORDER)
    assert invoice is not None
    assert invoice["customer_id"] == row["customer_id"]
    amounts = [invoice[c] for c in ("subtotal", "service_fee", "shipping", "tax", "total")]
    assert amounts == [Decimal(v) for v in ("540.0", "0.0", "15.0", "6.6", "561.6")]
    line = await db.fetchrow("SELECT * FROM pos.invoice_lines WHERE invoice_id = $1", invoice["id"])
    assert line is not None
    assert dict(line) | {"id": None, "event_occurs_at": None} == {
        "id": None,
        "invoice_id": invoice["id"],
        "tevo_item_id": 11830213,
        "ticket_group_id": 522337144,
        "remote_id": "POS-88231",
        "section": "112",
        "row": "K",
        "seats": "7,8",
        "quantity": 2,
        "price": Decimal("270.0"),
        "event_id": 1817390,
        "event_name": "New York Rangers at Boston Bruins",
        "event_occurs_at": None,
    }
    assert line["event_occurs_at"].isoformat() == "2026-12-13T00:00:00+00:00"
    history = await db.fetch(
        "SELECT * FROM pos.order_history WHERE tevo_order_id = $1", OFFICE_ORDER
    )
    assert [(h["event_type"], h["note"]) for h in history] == [
        ("order_created", "new -> invoiced; invoice created")
    ]


async def test_office_order_is_invoiced_even_when_fraud_check_declined(
    seller: Seller, db: asyncpg.Connection
) -> None:
    await seller.send("order_created", order("order_office", fraud_check_status="declined"))
    row = await sale(db, OFFICE_ORDER)
    assert (row["status"], row["review_reason"]) == ("invoiced", None)
    assert await invoices(db, OFFICE_ORDER) == 1


async def test_later_office_orders_reuse_the_office_customer(
    seller: Seller, db: asyncpg.Connection
) -> None:
    await seller.send("order_created", order("order_office"))
    await seller.send("order_created", order("order_office", id=10324713, oid="R1B-F6M-M9K"))
    first, second = await sale(db, OFFICE_ORDER), await sale(db, 10324713)
    assert first["customer_id"] == second["customer_id"]
    assert await count(db, "SELECT count(*) FROM pos.customers") == 1


async def test_pending_client_order_waits_and_creates_its_customer(
    seller: Seller, db: asyncpg.Connection
) -> None:
    await seller.send("order_created", order("order_client"), CLIENT_GROUP)
    row = await sale(db, CLIENT_ORDER)
    assert (row["status"], row["fraud_check_status"]) == ("awaiting_fraud_check", "pending")
    assert await invoices(db, CLIENT_ORDER) == 0
    customer = await db.fetchrow("SELECT * FROM pos.customers WHERE id = $1", row["customer_id"])
    assert customer is not None
    assert (customer["tevo_client_id"], customer["name"]) == (3390021, "Jordan Avery")
    assert (customer["email"], customer["phone"]) == ("Jordan.Avery@example.com", "555-0100")
    assert '"locality": "Springfield"' in customer["address"]


async def test_client_order_without_fraud_status_waits(
    seller: Seller, db: asyncpg.Connection
) -> None:
    await seller.send("order_created", order("order_client", fraud_check_status=None), CLIENT_GROUP)
    assert (await sale(db, CLIENT_ORDER))["status"] == "awaiting_fraud_check"


async def test_client_order_approved_at_creation_is_invoiced(
    seller: Seller, db: asyncpg.Connection
) -> None:
    await seller.send("order_created", order("order_client_approved"), CLIENT_GROUP)
    row = await sale(db, CLIENT_ORDER)
    assert row["status"] == "invoiced"
    invoice_customer = await db.fetchval(
        "SELECT customer_id FROM pos.invoices WHERE tevo_order_id = $1", CLIENT_ORDER
    )
    assert invoice_customer == row["customer_id"]


async def test_declined_client_order_has_no_standing_invoice(
    seller: Seller, db: asyncpg.Connection
) -> None:
    await seller.send("order_created", order("order_client_declined"), CLIENT_GROUP)
    assert await invoices(db, CLIENT_ORDER) == 0
    # an approval older than the decline is stale: the sale stays declined, and its invoice is
    # the one the approval made on TEvo's timeline, voided by the newer decline, exactly as if
    # the two had arrived in TEvo's order
    stale = order("order_client_approved", updated_at="2026-11-21T09:05:00Z")
    await seller.send("fraud_response_received", stale, CLIENT_GROUP)
    row = await sale(db, CLIENT_ORDER)
    assert (row["status"], row["fraud_check_status"]) == ("fraud_declined", "declined")
    assert row["review_reason"] == "conflicting fraud decisions"
    voided = await db.fetchval(
        "SELECT void_reason FROM pos.invoices WHERE tevo_order_id = $1", CLIENT_ORDER
    )
    assert voided == "fraud declined"


async def test_without_riskified_a_pending_client_order_is_invoiced_at_once(
    make_seller: Callable[..., Seller], db: asyncpg.Connection
) -> None:
    await make_seller(riskified=False).send("order_created", order("order_client"), CLIENT_GROUP)
    assert (await sale(db, CLIENT_ORDER))["status"] == "invoiced"
    assert await invoices(db, CLIENT_ORDER) == 1


async def test_client_is_found_by_email_case_insensitive_and_trimmed(
    seller: Seller, db: asyncpg.Connection
) -> None:
    await seller.send("order_created", order("order_client"), CLIENT_GROUP)
    # the same person, once as a guest checkout: no client id, the e-mail spelled differently
    guest = order(
        "order_client",
        id=10324801,
        buyer={"type": "Client", "name": "J. Avery"},
        client={
            "name": "J. Avery",
            "email_addresses": [{"address": "  JORDAN.avery@EXAMPLE.com "}],
        },
    )
    await seller.send("order_created", guest, CLIENT_GROUP)
    first, second = await sale(db, CLIENT_ORDER), await sale(db, 10324801)
    assert first["customer_id"] == second["customer_id"]
    assert await count(db, "SELECT count(*) FROM pos.customers") == 1


async def test_client_is_found_by_client_id_before_email(
    seller: Seller, db: asyncpg.Connection
) -> None:
    await seller.send("order_created", order("order_client"), CLIENT_GROUP)
    moved = order(
        "order_client",
        id=10324802,
        client={"id": 3390021, "email_addresses": [{"address": "jordan@new-employer.example"}]},
    )
    await seller.send("order_created", moved, CLIENT_GROUP)
    assert (await sale(db, 10324802))["customer_id"] == (await sale(db, CLIENT_ORDER))[
        "customer_id"
    ]
    assert await count(db, "SELECT count(*) FROM pos.customers") == 1


async def test_other_buyer_types_are_kept_for_review(
    seller: Seller, db: asyncpg.Connection
) -> None:
    await seller.send("order_created", order("order_brokerage"), 4606911)
    row = await sale(db, 10324950)
    assert (row["status"], row["customer_id"]) == ("needs_review", None)
    assert row["review_reason"] == "no sales rule for buyer type 'Brokerage'"
    assert await invoices(db, 10324950) == 0
    to_review = await db.fetchval(
        "SELECT array_agg(tevo_order_id) FROM pos.sales"
        " WHERE review_reason IS NOT NULL OR status = 'needs_review'"
    )
    assert to_review == [10324950]
