"""Seller-side updates: cancel, reject, airbill, delivery, for orders seen and never seen."""

from __future__ import annotations

from decimal import Decimal

import asyncpg
import pytest

from tests.integration.conftest import count
from tests.integration.sales.conftest import OFFICE_ORDER, Seller, sale
from tests.payloads import order

pytestmark = pytest.mark.integration


async def invoice(db: asyncpg.Connection, tevo_order_id: int) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM pos.invoices WHERE tevo_order_id = $1", tevo_order_id)


async def history(db: asyncpg.Connection, tevo_order_id: int) -> list[tuple[str, str, str]]:
    rows = await db.fetch(
        "SELECT event_type, state, note FROM pos.order_history"
        " WHERE tevo_order_id = $1 ORDER BY id",
        tevo_order_id,
    )
    return [(r["event_type"], r["state"], r["note"]) for r in rows]


async def test_order_canceled_voids_the_invoice(seller: Seller, db: asyncpg.Connection) -> None:
    await seller.send("order_created", order("order_office"))
    await seller.send("order_canceled", order("order_office_canceled"))
    row = await sale(db, OFFICE_ORDER)
    assert (row["status"], row["state"]) == ("canceled", "canceled")
    voided = await invoice(db, OFFICE_ORDER)
    assert voided is not None
    assert voided["voided_at"] is not None
    assert voided["void_reason"] == "order canceled"
    assert await history(db, OFFICE_ORDER) == [
        ("order_created", "pending", "new -> invoiced; invoice created"),
        ("order_canceled", "canceled", "invoiced -> canceled; invoice voided"),
    ]


async def test_order_rejected_cancels_the_sale(seller: Seller, db: asyncpg.Connection) -> None:
    await seller.send("order_created", order("order_office"))
    rejected = order("order_office_canceled", state="rejected", seller_state="rejected")
    await seller.send("order_rejected", rejected)
    assert (await sale(db, OFFICE_ORDER))["status"] == "canceled"
    voided = await invoice(db, OFFICE_ORDER)
    assert voided is not None
    assert voided["void_reason"] == "order rejected"


@pytest.mark.parametrize("state", ["cancelled", "canceled_open", "canceled_post_acceptance"])
async def test_any_update_with_a_canceled_state_cancels(
    seller: Seller, db: asyncpg.Connection, state: str
) -> None:
    await seller.send("order_created", order("order_office"))
    await seller.send("delivery_updated", order("order_office_canceled", state=state))
    row = await sale(db, OFFICE_ORDER)
    assert (row["status"], row["state"]) == ("canceled", state.replace("cancelled", "canceled"))
    voided = await invoice(db, OFFICE_ORDER)
    assert voided is not None
    assert voided["void_reason"] == f"order {state.replace('cancelled', 'canceled')}"


async def test_cancel_of_an_unseen_order_is_kept_and_never_stands_invoiced(
    seller: Seller, db: asyncpg.Connection
) -> None:
    await seller.send("order_canceled", order("order_office_canceled"))
    row = await sale(db, OFFICE_ORDER)
    assert (row["status"], row["total"]) == ("canceled", Decimal("561.6"))
    assert await invoice(db, OFFICE_ORDER) is None
    # its order_created, processed late, is older: the sale stays canceled, with the invoice
    # TEvo's timeline had before the cancel, voided, as if they had arrived in TEvo's order
    await seller.send("order_created", order("order_office"))
    row = await sale(db, OFFICE_ORDER)
    assert (row["status"], row["state"]) == ("canceled", "canceled")
    voided = await invoice(db, OFFICE_ORDER)
    assert voided is not None
    assert (voided["void_reason"], voided["voided_at"] is not None) == ("order canceled", True)
    assert [h[0] for h in await history(db, OFFICE_ORDER)] == ["order_canceled", "order_created"]


async def test_airbill_and_delivery_record_the_delivery_state(
    seller: Seller, db: asyncpg.Connection
) -> None:
    await seller.send("order_created", order("order_office"))
    await seller.send("airbill_uploaded", order("order_office_airbill_uploaded"))
    row = await sale(db, OFFICE_ORDER)
    assert (row["state"], row["delivery_state"]) == ("accepted", "pending")
    await seller.send("delivery_updated", order("order_office_delivery_updated"))
    row = await sale(db, OFFICE_ORDER)
    assert (row["status"], row["state"], row["delivery_state"]) == (
        "invoiced",
        "completed",
        "delivered",
    )
    assert await count(db, "SELECT count(*) FROM pos.invoices") == 1
    assert len(await history(db, OFFICE_ORDER)) == 3


async def test_an_older_update_arriving_late_changes_nothing_but_history(
    seller: Seller, db: asyncpg.Connection
) -> None:
    await seller.send("delivery_updated", order("order_office_delivery_updated"))
    await seller.send("airbill_uploaded", order("order_office_airbill_uploaded"))
    row = await sale(db, OFFICE_ORDER)
    assert (row["state"], row["delivery_state"]) == ("completed", "delivered")
    assert row["order_updated_at"].isoformat() == "2026-11-23T10:15:40+00:00"
    notes = [h[2] for h in await history(db, OFFICE_ORDER)]
    assert notes[-1] == "invoiced -> invoiced; older than the stored order"


async def test_an_update_for_an_unseen_office_order_creates_and_invoices_it(
    seller: Seller, db: asyncpg.Connection
) -> None:
    # Office sales are invoiced whatever else is known, so the first webhook to arrive does it
    await seller.send("airbill_uploaded", order("order_office_airbill_uploaded"))
    row = await sale(db, OFFICE_ORDER)
    assert (row["status"], row["state"], row["order_group_id"]) == ("invoiced", "accepted", 4606857)
    await seller.send("order_created", order("order_office"))
    assert await count(db, "SELECT count(*) FROM pos.invoices") == 1
    assert await count(db, "SELECT count(*) FROM pos.invoice_lines") == 1


async def test_an_update_for_an_unseen_pending_client_order_does_not_invoice(
    seller: Seller, db: asyncpg.Connection
) -> None:
    body = order("order_client", state="accepted", updated_at="2026-11-21T12:00:00Z")
    await seller.send("delivery_updated", body, 4606902)
    row = await sale(db, 10324800)
    assert (row["status"], row["state"]) == ("awaiting_fraud_check", "accepted")
    assert await invoice(db, 10324800) is None


@pytest.mark.parametrize("newer_first", [False, True], ids=["in-order", "newer-first"])
async def test_amounts_follow_the_newest_body_and_the_invoice_is_amended(
    seller: Seller, db: asyncpg.Connection, newer_first: bool
) -> None:
    changed = order(
        "order_office_delivery_updated", shipping="25.0", total="571.6", balance="571.6"
    )
    steps = [("order_created", order("order_office")), ("delivery_updated", changed)]
    for event_type, body in reversed(steps) if newer_first else steps:
        await seller.send(event_type, body)
    row = await sale(db, OFFICE_ORDER)
    assert (row["shipping"], row["total"]) == (Decimal("25.0"), Decimal("571.6"))
    assert row["review_reason"] is None
    invoiced = await invoice(db, OFFICE_ORDER)
    assert invoiced is not None
    # one invoice either way, carrying the newest body's amounts
    assert (invoiced["shipping"], invoiced["total"]) == (Decimal("25.0"), Decimal("571.6"))
    assert (invoiced["amended_at"] is not None) == (not newer_first)
    assert await count(db, "SELECT count(*) FROM pos.invoices") == 1
