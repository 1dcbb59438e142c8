"""Sales (`pos.sales`): recording an order TEvo sold for the broker, one row per TEvo order."""

from __future__ import annotations

from contracts import Order
from processor.handling import Connection, Inbound

UPSERT_SQL = """
INSERT INTO pos.sales (tevo_order_id, order_group_id, oid, buyer_type, buyer_id,
                       fraud_check_status, fraud_status_at, status, state, subtotal, service_fee,
                       shipping, tax, total, order_updated_at, raw)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
ON CONFLICT (tevo_order_id) DO NOTHING
"""


async def record_sale(conn: Connection, inbound: Inbound, order: Order, status: str) -> bool:
    """Insert the sale if new; True when this call created it."""
    buyer = order.buyer
    result: str = await conn.execute(
        UPSERT_SQL,
        order.id,
        inbound.order_group_id,
        order.oid,
        buyer.type if buyer else None,
        buyer.id if buyer else None,
        order.fraud_check_status,
        order.updated_at,
        status,
        order.normalized_state,
        order.subtotal,
        order.service_fee,
        order.shipping,
        order.tax,
        order.total,
        order.updated_at,
        inbound.body.decode(),  # jsonb takes JSON text; Postgres checks it
    )
    return result.endswith(" 1")
