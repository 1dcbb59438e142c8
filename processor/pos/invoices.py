"""Invoices (`pos.invoices`, `pos.invoice_lines`): made once per sale from the order, or voided."""

from __future__ import annotations

from contracts import Order, OrderItem
from processor.handling import Connection

INSERT_INVOICE_SQL = """
INSERT INTO pos.invoices (tevo_order_id, customer_id, subtotal, service_fee, shipping, tax,
                          additional_expense, discount, total)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (tevo_order_id) DO NOTHING
RETURNING id
"""
INSERT_LINE_SQL = """
INSERT INTO pos.invoice_lines (invoice_id, tevo_item_id, ticket_group_id, remote_id, section, row,
                               seats, quantity, price, event_id, event_name, event_occurs_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
"""
VOID_SQL = """
UPDATE pos.invoices SET voided_at = now(), void_reason = $2
WHERE tevo_order_id = $1 AND voided_at IS NULL
"""


async def create_invoice(conn: Connection, order: Order, customer_id: int) -> int | None:
    """Invoice the order with one line per item; None when it already has an invoice.

    The caller has checked `sale_rules.invoice_problem(order)`: total, price and quantity are set.
    """
    invoice_id: int | None = await conn.fetchval(
        INSERT_INVOICE_SQL,
        order.id,
        customer_id,
        order.subtotal,
        order.service_fee,
        order.shipping,
        order.tax,
        order.additional_expense,
        order.discount,
        order.total,
    )
    if invoice_id is not None:
        await conn.executemany(INSERT_LINE_SQL, [_line(invoice_id, item) for item in order.items])
    return invoice_id


def _line(invoice_id: int, item: OrderItem) -> tuple[object, ...]:
    group = item.ticket_group
    event = group.event if group else None
    return (
        invoice_id,
        item.id,
        group.id if group else None,
        group.remote_id if group else None,
        group.section if group else None,
        group.row if group else None,
        ",".join(str(seat) for seat in group.seats) if group and group.seats else None,
        item.quantity,
        item.price,
        event.id if event else None,
        event.name if event else None,
        event.occurs_at if event else None,
    )


async def void_invoice(conn: Connection, tevo_order_id: int, reason: str) -> bool:
    """Void the sale's invoice; True when there was one standing."""
    result: str = await conn.execute(VOID_SQL, tevo_order_id, reason)
    return result.endswith(" 1")
