"""Any delivery order, any duplicates, one and the same POS state: generated fraud histories.

Each example is one order's webhooks: `order_created`, then Riskified's answers as
`fraud_response_received` (pending updates, then one final decision, possibly repeated). The
same webhooks go through the real dispatch path several times, each time for a fresh order and
a fresh client: in order, in sampled permutations with random duplicates, and all at once.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.runtime.message import Inbound
from tests.integration.sales.conftest import CLIENT_GROUP, Seller, seller_webhook
from tests.payloads import order

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 21, 9, 2, 45, tzinfo=UTC)
# Fresh ids per delivery run, so one database serves every example without collisions.
IDS = itertools.count(20_000_000)

# Function-scoped fixtures (the database, the pool) are shared by the examples on purpose:
# every run uses a fresh order and client id, so examples cannot see each other's rows.
PROPERTY_SETTINGS = settings(
    max_examples=30,
    deadline=None,  # each example is dozens of real transactions on a shared machine
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Webhook:
    event_type: str
    fraud: str | None
    minute: int


@st.composite
def realistic_history(
    draw: st.DrawFn, decisions: tuple[str, ...] = ("approved", "declined")
) -> list[Webhook]:
    """order_created, pending updates, then at most one final decision, maybe sent twice."""
    created = Webhook("order_created", draw(st.sampled_from([None, "pending"])), 0)
    pending_at = sorted(draw(st.lists(st.integers(0, 10), max_size=3)))
    pendings = [Webhook("fraud_response_received", "pending", m) for m in pending_at]
    decision = draw(st.sampled_from([None, *decisions]))
    if decision is None:
        return [created, *pendings]
    first = max(pending_at, default=0) + draw(st.integers(0, 5))  # may tie with a pending
    copies = [first, *draw(st.lists(st.integers(first, first + 5), max_size=1))]
    if draw(st.booleans()):  # Riskified answered before the order was even created
        created = Webhook("order_created", decision, first)
    return [created, *pendings, *(Webhook("fraud_response_received", decision, m) for m in copies)]


@st.composite
def conflicting_history(draw: st.DrawFn) -> list[Webhook]:
    """A history where Riskified both approved and declined, in any timing."""
    minutes = st.integers(0, 10)
    return [
        Webhook("order_created", draw(st.sampled_from([None, "pending"])), 0),
        Webhook("fraud_response_received", "approved", draw(minutes)),
        Webhook("fraud_response_received", "declined", draw(minutes)),
        *draw(
            st.lists(
                st.builds(Webhook, st.just("fraud_response_received"), st.just("pending"), minutes),
                max_size=2,
            )
        ),
    ]


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
            updated_at=(T0 + timedelta(minutes=w.minute)).isoformat(),
        )
        for w in history
    ]
    return order_id, [
        seller_webhook(w.event_type, b, CLIENT_GROUP) for w, b in zip(history, bodies, strict=True)
    ]


async def pos_state(db: asyncpg.Connection, order_id: int) -> dict[str, Any]:
    """Everything the POS holds about one order, without ids that differ from run to run."""
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
               i.shipping, i.tax, i.total, i.voided_at IS NOT NULL AS voided,
               (SELECT array_agg(row(l.ticket_group_id, l.remote_id, l.section, l.row, l.seats,
                                     l.quantity, l.price, l.event_name, l.event_occurs_at)::text)
                FROM pos.invoice_lines l WHERE l.invoice_id = i.id) AS lines
        FROM pos.invoices i JOIN pos.sales s USING (tevo_order_id) WHERE i.tevo_order_id = $1
        """,
        order_id,
    )
    history = await db.fetchval(
        "SELECT count(*) FROM pos.order_history WHERE tevo_order_id = $1", order_id
    )
    assert sale is not None
    assert len(invoices) <= 1, "a sale was invoiced twice"
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
@given(
    history=realistic_history(),
    buyer=st.sampled_from(["Client", "Client", "Office"]),
    data=st.data(),
)
async def test_every_delivery_order_gives_the_same_pos_state(
    seller: Seller, db: asyncpg.Connection, history: list[Webhook], buyer: str, data: st.DataObject
) -> None:
    first, *others = await deliver_runs(seller, db, history, buyer, data)
    for other in others:
        assert other == first
    if buyer == "Client":
        decided = {w.fraud for w in history if w.fraud is not None} - {"pending"}
        expected = {"approved": "invoiced", "declined": "fraud_declined"}
        assert first["sale"]["status"] == (
            expected[decided.pop()] if decided else "awaiting_fraud_check"
        )
        assert first["sale"]["review_reason"] is None
    assert len(first["invoices"]) == (first["sale"]["status"] == "invoiced")


@settings(PROPERTY_SETTINGS, max_examples=15)
@given(history=conflicting_history(), data=st.data())
async def test_conflicting_fraud_decisions_always_end_flagged(
    seller: Seller, db: asyncpg.Connection, history: list[Webhook], data: st.DataObject
) -> None:
    for state in await deliver_runs(seller, db, history, "Client", data):
        assert "conflicting fraud decisions" in (state["sale"]["review_reason"] or "")
        assert state["sale"]["status"] in {"invoiced", "fraud_declined"}
