"""Purchase orders (`pos.purchase_orders` and their lines) kept up to date by buyer webhooks.

One purchase order per TEvo order the broker bought. Every buyer webhook whose body is an order
is a version of that order, whatever its event type: the first one seen creates the purchase
order, and the newest `updated_at` decides status, state, amounts and which lines stand; a line
only an older version lists is kept, marked removed. A purchase order stays `pending` until an
`order_accepted` is seen, whichever webhook opened it. At equal `updated_at` the further step
wins (canceled over open, delivered over shipped), so the outcome does not depend on the order
the webhooks arrive in.
A transaction-scoped advisory lock per TEvo order serializes every consumer touching one
purchase order, including the first, which has no row to lock yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from contracts import CANCELED_STATES, EARLIEST, REJECTED, Order, as_utc
from processor.errors import ContractViolation
from processor.handler import Applied, Connection, Deps, Inbound, Record
from processor.pos.purchase_lines import (
    Finalization,
    apply_waiting_finalizations,
    finalize_line,
    remember_finalization,
    write_lines,
)
from processor.tevo.verify import check_before_invoicing

FLAG_SQL = "UPDATE pos.purchase_orders SET review_reason = $2 WHERE id = $1"
# Keyed by TEvo order id, not by row: the first webhook of an order has no row to lock yet.
LOCK_SQL = """
SELECT pg_advisory_xact_lock(hashtextextended('pos.purchase_orders:' || $1::bigint::text, 0))
"""
SELECT_SQL = """
SELECT id, status, state, order_updated_at, delivery_state, delivery_updated_at, accepted_seen
FROM pos.purchase_orders WHERE tevo_order_id = $1
"""
INSERT_SQL = """
INSERT INTO pos.purchase_orders (tevo_order_id, order_group_id, oid, seller_type, seller_id,
    seller_name, seller_brokerage_id, seller_brokerage_name, status, state, subtotal, service_fee,
    shipping, tax, additional_expense, discount, total, balance, order_updated_at, in_hand_on,
    raw, delivery_state, delivery_updated_at, accepted_seen)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
        $21, $22, $23, $24)
RETURNING id
"""
# The newest version: fields it leaves out keep what an older version said.
UPDATE_SQL = """
UPDATE pos.purchase_orders SET oid = COALESCE($2, oid), seller_type = COALESCE($3, seller_type),
    seller_id = COALESCE($4, seller_id), seller_name = COALESCE($5, seller_name),
    seller_brokerage_id = COALESCE($6, seller_brokerage_id),
    seller_brokerage_name = COALESCE($7, seller_brokerage_name), status = $8, state = $9,
    subtotal = COALESCE($10, subtotal), service_fee = COALESCE($11, service_fee),
    shipping = COALESCE($12, shipping), tax = COALESCE($13, tax),
    additional_expense = COALESCE($14, additional_expense), discount = COALESCE($15, discount),
    total = COALESCE($16, total), balance = COALESCE($17, balance), order_updated_at = $18,
    in_hand_on = COALESCE($19, in_hand_on), raw = $20, updated_at = now()
WHERE id = $1
"""
DELIVERY_SQL = """
UPDATE pos.purchase_orders SET delivery_state = $2, delivery_updated_at = $3, updated_at = now()
WHERE id = $1
"""
# The acceptance may arrive after (or be older than) the version that decided the status.
ACCEPT_SQL = """
UPDATE pos.purchase_orders
SET accepted_seen = true, status = CASE WHEN status = 'pending' THEN 'open' ELSE status END,
    updated_at = now()
WHERE id = $1
"""
STATUS_RANK = {"pending": 0, "open": 0, "completed": 1, "rejected": 2, "canceled": 3}
DELIVERY_RANK = {
    "airbill_requested": 1,
    "airbill_generated": 2,
    "reclassified": 3,
    "updated": 3,
    "shipped": 4,
    "proof_of_transfer_uploaded": 5,
    "delivered": 6,
}
Version = tuple[datetime, int]


@dataclass(frozen=True)
class Change:
    """What a buyer webhook says besides its order body: a note, and what its type decides."""

    note: str
    status: str | None = None  # canceled / rejected: the webhook's type says so
    delivery_state: str | None = None
    accepts: bool = False  # order_accepted: the seller accepted the purchase


def status_of(order: Order, change: Change, accepted: bool = True) -> str:
    """The purchase order's status for this version of the order (`pending` until accepted)."""
    if change.status is not None:
        return change.status
    state = order.normalized_state
    if state in CANCELED_STATES:
        return "canceled"
    if state in (REJECTED, "completed"):
        return state
    return "open" if accepted else "pending"


def version(updated_at: datetime | None, rank: int) -> Version:
    """Versions compare by `updated_at`, then by how far along the step is."""
    return (EARLIEST if updated_at is None else as_utc(updated_at), rank)


async def lock_order(conn: Connection, tevo_order_id: int) -> None:
    await conn.execute(LOCK_SQL, tevo_order_id)


async def apply_order_webhook(
    inbound: Inbound, conn: Connection, deps: Deps, change: Change
) -> Applied:
    """Create or update the purchase order from a buyer webhook whose body is the order."""
    order = inbound.order()
    if inbound.order_group_id is None:
        raise ContractViolation("order_group_id is required for a purchase order")
    await lock_order(conn, order.id)
    row = await conn.fetchrow(SELECT_SQL, order.id)
    if row is None:
        po_id, outcome = await _create(conn, inbound, order, change)
        outcome += await _verify(conn, deps, order, po_id)
    else:
        po_id, outcome = row["id"], await _update(conn, inbound, order, change, row)
        if change.accepts and not row["accepted_seen"]:
            await conn.execute(ACCEPT_SQL, po_id)
    if await apply_waiting_finalizations(conn, po_id, order.id):
        outcome += "; e-tickets finalized earlier applied to its lines"
    return Applied(
        order.id,
        f"{change.note}; purchase order {outcome}",
        order.normalized_state,
        created=(Record.PURCHASE_ORDER,) if row is None else (),
    )


async def _create(
    conn: Connection, inbound: Inbound, order: Order, change: Change
) -> tuple[int, str]:
    at = order.updated_at if change.delivery_state else None
    po_id: int = await conn.fetchval(
        INSERT_SQL,
        order.id,
        inbound.order_group_id,
        *_fields(inbound, order, status_of(order, change, change.accepts)),
        change.delivery_state,
        at,
        change.accepts,
    )
    await write_lines(conn, po_id, order, replace=True, created=True)
    outcome = "created" if change.accepts else "created, pending: no order_accepted seen yet"
    if change.delivery_state is None:
        return po_id, outcome
    return po_id, f"{outcome}; delivery state {change.delivery_state}"


async def _verify(conn: Connection, deps: Deps, order: Order, po_id: int) -> str:
    """Ask TEvo (when verification is on) whether this order is real; flag it when not."""
    problem = await check_before_invoicing(deps, order)
    if problem is None:
        return ""
    reason = f"not confirmed by TEvo: {problem}"
    await conn.execute(FLAG_SQL, po_id, reason)
    return f"; review: {reason}"


async def _update(
    conn: Connection, inbound: Inbound, order: Order, change: Change, row: asyncpg.Record
) -> str:
    status = status_of(order, change, row["accepted_seen"] or change.accepts)
    new = version(order.updated_at, STATUS_RANK[status])
    newest = new >= version(row["order_updated_at"], STATUS_RANK[row["status"]])
    if newest:
        await conn.execute(UPDATE_SQL, row["id"], *_fields(inbound, order, status))
    await write_lines(conn, row["id"], order, replace=newest, created=False)
    outcome = "updated" if newest else "kept (a newer version was applied)"
    if change.delivery_state is not None:
        outcome += await _record_delivery(conn, row, order, change.delivery_state)
    return outcome


def _fields(inbound: Inbound, order: Order, status: str) -> tuple[object, ...]:
    """The columns one version of the order sets, from `oid` to `raw`, in the SQL's order."""
    seller = order.seller
    brokerage = seller.brokerage if seller else None
    in_hand = [i.ticket_group.in_hand_on for i in order.items if i.ticket_group]
    return (
        order.oid,
        seller.type if seller else None,
        seller.id if seller else None,
        seller.name if seller else None,
        brokerage.id if brokerage else None,
        brokerage.name if brokerage else None,
        status,
        order.normalized_state,
        order.subtotal,
        order.service_fee,
        order.shipping,
        order.tax,
        order.additional_expense,
        order.discount,
        order.total,
        order.balance,
        order.updated_at,
        # the order is in hand when its last line is
        max((d for d in in_hand if d is not None), default=None),
        inbound.body.decode(),  # jsonb takes JSON text; Postgres checks it
    )


async def _record_delivery(conn: Connection, row: asyncpg.Record, order: Order, state: str) -> str:
    current = row["delivery_state"]
    new = version(order.updated_at, DELIVERY_RANK.get(state, 0))
    if current is not None:
        old = version(row["delivery_updated_at"], DELIVERY_RANK.get(current, 0))
        if new < old:
            return f"; delivery state stays {current} (newer)"
    await conn.execute(DELIVERY_SQL, row["id"], state, order.updated_at)
    return f"; delivery state {state}"


async def finalize_etickets(conn: Connection, inbound: Inbound) -> Applied:
    """Mark an order item's e-tickets finalized, or remember it until its line exists."""
    item = inbound.order_item()
    group = item.ticket_group.id if item.ticket_group else None
    if item.order_id is None:
        raise ContractViolation("order_id: the order item names no order")
    if item.id is None and group is None:
        raise ContractViolation("id: the order item has neither an id nor a ticket_group.id")
    await lock_order(conn, item.order_id)
    row = await conn.fetchrow(SELECT_SQL, item.order_id)
    at = item.updated_at or inbound.received_at
    done = Finalization(item.order_id, item.id, group, at, inbound.message_id)
    if row is not None and await finalize_line(conn, row["id"], done):
        note = "e-tickets finalized"
    else:
        await remember_finalization(conn, done)
        note = "e-tickets finalized; kept until the purchase order line arrives"
    which = f"item {item.id}" if item.id is not None else f"ticket group {group}"
    return Applied(item.order_id, f"{note} ({which})", row["state"] if row else None)
