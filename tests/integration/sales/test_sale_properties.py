"""Any delivery order, any duplicates, one and the same POS state: generated order histories.

Each example is one order's seller webhooks, each a whole order body whose `updated_at`, fraud
status, shipping (so total) and items vary: `order_created`, Riskified's answers, delivery and
airbill updates, and sometimes a cancel. The same webhooks go through the real dispatch path
several times, each time for a fresh order and a fresh client: in order, in sampled permutations
with random duplicates, and all at once. Every run must end in exactly the same POS state, and
that state must be the one the rules name for the set (`expected`): no either/or.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.handler import Inbound
from tests.integration.sales.conftest import CLIENT_GROUP, Seller, seller_webhook
from tests.payloads import order

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 21, 9, 2, 45, tzinfo=UTC)
# Fresh ids per delivery run, so one database serves every example without collisions.
IDS = itertools.count(20_000_000)
RANK = {None: 0, "pending": 1, "approved": 2, "declined": 3}
SUBTOTAL, SERVICE_FEE, TAX = Decimal("300.00"), Decimal("45.00"), Decimal("24.15")

# Function-scoped fixtures (the database, the pool) are shared by the examples on purpose:
# every run uses a fresh order and client id, so examples cannot see each other's rows.
PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,  # each example is dozens of real transactions on a shared machine
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def item(item_id: int, group: int, price: str, quantity: int) -> dict[str, Any]:
    return {
        "id": item_id,
        "price": price,
        "quantity": quantity,
        "ticket_group": {"id": group, "remote_id": f"POS-{group}", "section": "Floor A",
                         "row": "3", "seats": [], "event": {"id": 1820001, "name": "Eras"}},
    }  # fmt: skip


# The items a body may list: the original pair, one removed, one substituted by another group.
ITEMS = (
    (item(11830400, 522339001, "150.00", 2),),
    (item(11830400, 522339001, "150.00", 1), item(11830401, 522339002, "150.00", 1)),
    (item(11830402, 522339077, "300.00", 1),),
)


@dataclass(frozen=True)
class Webhook:
    event_type: str
    fraud: str | None
    minute: int
    shipping: Decimal
    items: int  # index into ITEMS

    @property
    def cancels(self) -> bool:
        return self.event_type == "order_canceled"

    def key(self) -> tuple[int, int]:
        # the timeline's order, as far as the expectation needs it (digest ties aside)
        return (self.minute, RANK[self.fraud])


EVENTS = ["order_created", "fraud_response_received", "delivery_updated", "airbill_uploaded"]


@st.composite
def history(draw: st.DrawFn) -> list[Webhook]:
    """Two to five webhooks of one order: any fraud statuses, times, totals and items."""
    webhooks = draw(
        st.lists(
            st.builds(
                Webhook,
                st.sampled_from([*EVENTS, *EVENTS, "order_canceled"]),
                st.sampled_from([None, "pending", "approved", "declined"]),
                st.integers(0, 6),
                st.sampled_from([Decimal("0.00"), Decimal("20.00")]),
                st.integers(0, len(ITEMS) - 1),
            ),
            min_size=2,
            max_size=5,
            # Two bodies of one time and fraud status are ordered by their SHA-256, which
            # differs from run to run (each run is a fresh order id): keep them apart.
            unique_by=lambda w: (w.minute, w.fraud),
        )
    )
    return webhooks


def expected(webhooks: list[Webhook], buyer: str) -> dict[str, Any]:
    """What the rules say of this set, worked out apart from `sale_rules`: the newest decision
    decides; the invoice is the last step of the timeline that could be invoiced, else (a decline
    or cancel in between) the newest body, once the set holds an approval."""
    timeline = sorted(webhooks, key=Webhook.key)
    decision = None
    stood = None
    for webhook in timeline:
        if webhook.fraud in ("approved", "declined"):
            decision = webhook.fraud
        if not webhook.cancels and (buyer == "Office" or decision == "approved"):
            stood = webhook
    bodies = [w for w in timeline if not w.cancels]
    approval = any(w.fraud == "approved" for w in webhooks)
    invoiced = stood or (bodies[-1] if bodies and (buyer == "Office" or approval) else None)
    if any(w.cancels for w in webhooks):
        status = "canceled"
    elif buyer == "Client" and decision == "declined":
        status = "fraud_declined"
    elif stood is not None:
        status = "invoiced"
    else:
        status = "awaiting_fraud_check"
    total = None if invoiced is None else SUBTOTAL + SERVICE_FEE + TAX + invoiced.shipping
    return {"status": status, "invoice_total": total, "voided": status != "invoiced"}


def webhooks_for(history: list[Webhook], buyer: str) -> tuple[int, list[Inbound]]:
    """The history as webhooks of a fresh order, to a fresh client (or to TEvo's office)."""
    order_id, client_id = next(IDS), next(IDS)
    client = {
        "id": client_id,
        "name": "Jordan Avery",
        "email_addresses": [{"address": f"jordan.{client_id}@example.com"}],
        "phone_numbers": [{"number": "555-0100"}],
    }
    party = (
        {"id": client_id, "type": "Client"} if buyer == "Client" else {"id": 6, "type": "Office"}
    )
    bodies = [
        order(
            "order_client",
            id=order_id,
            buyer=party,
            client=client if buyer == "Client" else None,
            fraud_check_status=w.fraud,
            shipping=str(w.shipping),
            total=str(SUBTOTAL + SERVICE_FEE + TAX + w.shipping),
            items=list(ITEMS[w.items]),
            updated_at=(T0 + timedelta(minutes=w.minute)).isoformat(),
        )
        for w in history
    ]
    return order_id, [
        seller_webhook(w.event_type, b, CLIENT_GROUP) for w, b in zip(history, bodies, strict=True)
    ]


async def pos_state(db: asyncpg.Connection, order_id: int) -> dict[str, Any]:
    """Everything the POS holds about one order, without ids and times that differ by run."""
    sale = await db.fetchrow(
        """
        SELECT status, review_reason, fraud_check_status, fraud_status_at, fraud_approved_seen,
               fraud_declined_seen, state, subtotal, service_fee, shipping, tax, total,
               order_updated_at, raw->>'fraud_check_status' AS body_fraud, buyer_type,
               (SELECT row(c.name, c.phone, c.tevo_office_id IS NOT NULL)::text
                FROM pos.customers c WHERE c.id = s.customer_id) AS customer
        FROM pos.sales s WHERE tevo_order_id = $1
        """,
        order_id,
    )
    invoices = await db.fetch(
        """
        SELECT i.customer_id = s.customer_id AS to_sale_customer, i.subtotal, i.service_fee,
               i.shipping, i.tax, i.total, i.voided_at IS NOT NULL AS voided, i.void_reason,
               (SELECT array_agg(row(l.tevo_item_id, l.ticket_group_id, l.remote_id, l.section,
                                     l.row, l.seats, l.quantity, l.price, l.event_name,
                                     l.event_occurs_at)::text ORDER BY l.id)
                FROM pos.invoice_lines l WHERE l.invoice_id = i.id) AS lines
        FROM pos.invoices i JOIN pos.sales s USING (tevo_order_id) WHERE i.tevo_order_id = $1
        """,
        order_id,
    )
    history = await db.fetchval(
        "SELECT count(*) FROM pos.order_history WHERE tevo_order_id = $1", order_id
    )
    assert sale is not None
    return {"sale": dict(sale), "invoices": [dict(i) for i in invoices], "history": history}


def with_duplicates(webhooks: list[Inbound], data: st.DataObject) -> list[Inbound]:
    """A sampled permutation of `webhooks`, some of them delivered again at random places."""
    again = data.draw(st.lists(st.sampled_from(webhooks), max_size=4))
    return list(data.draw(st.permutations([*webhooks, *again])))


async def deliver_runs(
    seller: Seller, db: asyncpg.Connection, history: list[Webhook], buyer: str, data: st.DataObject
) -> list[dict[str, Any]]:
    """The final POS state after each way of delivering `history`."""
    states = []
    for run in range(4):
        order_id, webhooks = webhooks_for(history, buyer)
        deliveries = webhooks if run == 0 else with_duplicates(webhooks, data)
        if run == 3:  # all at once: per-order serialization is what keeps this equal
            await asyncio.gather(*(seller.deliver(w) for w in deliveries))
        else:
            for webhook in deliveries:
                await seller.deliver(webhook)
        states.append(await pos_state(db, order_id))
        assert states[-1]["history"] == len({w.message_id for w in webhooks})
    return states


@PROPERTY_SETTINGS
@given(history=history(), buyer=st.sampled_from(["Client", "Client", "Office"]), data=st.data())
async def test_every_delivery_order_gives_the_same_pos_state(
    seller: Seller, db: asyncpg.Connection, history: list[Webhook], buyer: str, data: st.DataObject
) -> None:
    first, *others = await deliver_runs(seller, db, history, buyer, data)
    for other in others:
        assert other == first
    want = expected(history, buyer)
    invoices = first["invoices"]
    assert first["sale"]["status"] == want["status"]
    assert [i["total"] for i in invoices] == (
        [] if want["invoice_total"] is None else [want["invoice_total"]]
    )
    assert [i["voided"] for i in invoices] == ([] if not invoices else [want["voided"]])
    decisions = {w.fraud for w in history} & {"approved", "declined"}
    conflicting = buyer == "Client" and len(decisions) == 2
    assert ("conflicting fraud decisions" in (first["sale"]["review_reason"] or "")) == conflicting
