"""A settled sale's row (`pos.sales`) and, when it gains one, its invoice, in one statement.

What the row shows comes from the newest version; `delivery_state` reads it from the body.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from contracts import EARLIEST, Order, parse_timestamp
from processor.handler import Connection, Record
from processor.pos.invoices import INVOICE_AFTER_SALE_SQL, invoice_args, sync_invoice
from processor.pos.sale_rules import Target

SAVE_SQL = """
INSERT INTO pos.sales (tevo_order_id, order_group_id, oid, buyer_type, buyer_id, state, subtotal,
                       service_fee, shipping, tax, total, order_updated_at, order_digest,
                       delivery_state, raw, customer_id, fraud_check_status, fraud_status_at,
                       fraud_approved_seen, fraud_declined_seen, status, review_reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, $16, $17, $18,
        $19, $20, $21, $22)
ON CONFLICT (tevo_order_id) DO UPDATE SET
    order_group_id = EXCLUDED.order_group_id, oid = EXCLUDED.oid,
    buyer_type = EXCLUDED.buyer_type, buyer_id = EXCLUDED.buyer_id, state = EXCLUDED.state,
    subtotal = EXCLUDED.subtotal, service_fee = EXCLUDED.service_fee,
    shipping = EXCLUDED.shipping, tax = EXCLUDED.tax, total = EXCLUDED.total,
    order_updated_at = EXCLUDED.order_updated_at, order_digest = EXCLUDED.order_digest,
    delivery_state = EXCLUDED.delivery_state, raw = EXCLUDED.raw,
    customer_id = EXCLUDED.customer_id, fraud_check_status = EXCLUDED.fraud_check_status,
    fraud_status_at = EXCLUDED.fraud_status_at,
    fraud_approved_seen = EXCLUDED.fraud_approved_seen,
    fraud_declined_seen = EXCLUDED.fraud_declined_seen,
    status = EXCLUDED.status, review_reason = EXCLUDED.review_reason, updated_at = now()
"""
SAVE_AND_INVOICE_SQL = f"""
WITH sale AS (
{SAVE_SQL}
RETURNING tevo_order_id, customer_id
){INVOICE_AFTER_SALE_SQL}"""


async def save_settled(
    conn: Connection,
    ids: tuple[int, int, int | None],
    target: Target,
    stored: asyncpg.Record | None,
) -> tuple[list[str], list[Record]]:
    """Write the sale and bring its invoice (`stored`, read under the lock) to the target;
    what was done, what was created. `ids`: the order, its group and the customer."""
    columns = _columns(*ids, target)
    if stored is None and target.invoice is not None and ids[2] is not None:
        made = await conn.fetchval(SAVE_AND_INVOICE_SQL, *columns, *invoice_args(target))
        done = ["invoice created"] + (["invoice voided"] if target.void_reason else [])
        return done, [Record.INVOICE] if made is not None else []
    await conn.execute(SAVE_SQL, *columns)
    return (await sync_invoice(conn, stored, target) if stored is not None else []), []


def _columns(
    tevo_order_id: int, group: int, customer_id: int | None, target: Target
) -> tuple[Any, ...]:
    newest = target.newest
    order, buyer = newest.order, newest.order.buyer
    return (
        tevo_order_id,
        group,
        order.oid,
        buyer.type if buyer else None,
        buyer.id if buyer else None,
        order.normalized_state,
        order.subtotal,
        order.service_fee,
        order.shipping,
        order.tax,
        order.total,
        order.updated_at,
        newest.digest,
        delivery_state(order),
        newest.raw,
        customer_id,
        target.fraud_status,
        target.fraud_at,
        target.approved_seen,
        target.declined_seen,
        target.status.value,
        target.review_reason,
    )


def delivery_state(order: Order) -> str | None:
    """The order's delivery state: `delivery.state`, else the state of its newest shipment."""
    extra = order.model_extra or {}
    delivery = extra.get("delivery")
    if isinstance(delivery, dict) and isinstance(delivery.get("state"), str):
        return str(delivery["state"])
    shipments = [
        (parse_timestamp(shipment.get("updated_at")) or EARLIEST, index, str(shipment["state"]))
        for index, shipment in enumerate(extra.get("shipments") or [])
        if isinstance(shipment, dict) and isinstance(shipment.get("state"), str)
    ]
    # compared as instants, not text; the later one in the list wins a tie
    return max(shipments)[2] if shipments else None
