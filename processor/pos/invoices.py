"""Invoices (`pos.invoices`, `pos.invoice_lines`): made once per sale from the order, or voided."""

from __future__ import annotations

from contracts import Order, OrderItem
from processor.runtime.message import Connection

# The invoice and its lines, made in the statement that saves the sale (one round trip instead
# of three): appended to a CTE `sale` that returns the saved row, its parameters numbered after
# the sale's 22. It yields the new invoice's id, or no row when the sale already had one.
INVOICE_AFTER_SALE_SQL = """
, invoice AS (
    INSERT INTO pos.invoices (tevo_order_id, customer_id, subtotal, service_fee, shipping, tax,
                              additional_expense, discount, total)
    SELECT tevo_order_id, customer_id, subtotal, service_fee, shipping, tax, $23::numeric,
           $24::numeric, total
    FROM sale
    ON CONFLICT (tevo_order_id) DO NOTHING
    RETURNING id
), line AS (
    INSERT INTO pos.invoice_lines (invoice_id, tevo_item_id, ticket_group_id, remote_id, section,
                                   row, seats, quantity, price, event_id, event_name,
                                   event_occurs_at)
    SELECT invoice.id, i.item, i.tg, i.remote_id, i.section, i.row, i.seats, i.quantity,
           i.price, i.event, i.event_name, i.occurs_at
    FROM invoice,
         unnest($25::bigint[], $26::bigint[], $27::text[], $28::text[], $29::text[], $30::text[],
                $31::integer[], $32::numeric[], $33::bigint[], $34::text[], $35::timestamptz[])
         WITH ORDINALITY AS i (item, tg, remote_id, section, row, seats, quantity, price, event,
                               event_name, occurs_at, n)
    ORDER BY i.n
)
SELECT id FROM invoice
"""
VOID_SQL = """
UPDATE pos.invoices SET voided_at = now(), void_reason = $2
WHERE tevo_order_id = $1 AND voided_at IS NULL
"""


def invoice_args(order: Order) -> tuple[object, ...]:
    """The parameters of `INVOICE_AFTER_SALE_SQL` beyond the sale's: amounts the sale does not
    keep, then one array per line column, a line per item.

    The caller has checked `sale_rules.invoice_problem(order)`: total, price and quantity are set.
    """
    lines = [_line(item) for item in order.items]
    columns = [list(column) for column in zip(*lines, strict=True)] if lines else [[]] * 11
    return (order.additional_expense, order.discount, *columns)


def _line(item: OrderItem) -> tuple[object, ...]:
    group = item.ticket_group
    event = group.event if group else None
    return (
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
