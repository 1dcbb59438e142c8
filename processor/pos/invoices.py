"""Invoices (`pos.invoices`, `pos.invoice_lines`): one per sale, kept equal to what the rules say.

An invoice is made once (`tevo_order_id` is unique) from the body `sale_rules.settle` names; a
newer body amends its amounts and lines in place, a cancel or a decline voids it, and a newer
approval after a decline restores it. It is never deleted and never made twice.
"""

from __future__ import annotations

import hashlib
import json

import asyncpg

from contracts import Order, OrderItem
from processor.handler import Connection
from processor.pos.sale_rules import Target

_LINE_COLUMNS = """tevo_item_id, ticket_group_id, remote_id, section, row, seats, quantity, price,
    event_id, event_name, event_occurs_at"""


def _lines_sql(first: int, invoice_id: str, source: str) -> str:
    """Insert one line per element of the 11 arrays numbered from `$first`."""
    p = [f"${first + n}" for n in range(11)]
    return f"""
    INSERT INTO pos.invoice_lines (invoice_id, {_LINE_COLUMNS})
    SELECT {invoice_id}, i.item, i.tg, i.remote_id, i.section, i.row, i.seats, i.quantity,
           i.price, i.event, i.event_name, i.occurs_at
    FROM {source}
         unnest({p[0]}::bigint[], {p[1]}::bigint[], {p[2]}::text[], {p[3]}::text[],
                {p[4]}::text[], {p[5]}::text[], {p[6]}::integer[], {p[7]}::numeric[],
                {p[8]}::bigint[], {p[9]}::text[], {p[10]}::timestamptz[])
         WITH ORDINALITY AS i (item, tg, remote_id, section, row, seats, quantity, price, event,
                               event_name, occurs_at, n)
    ORDER BY i.n"""  # noqa: S608 - built from constants and parameter numbers, never from data


# The invoice and its lines, made in the statement that saves the sale (one round trip instead
# of three): appended to a CTE `sale` that returns the saved row, its parameters numbered after
# the sale's 22 (`invoice_args`). It yields the new invoice's id, or no row when there was one.
INVOICE_AFTER_SALE_SQL = f"""
, invoice AS (
    INSERT INTO pos.invoices (tevo_order_id, customer_id, subtotal, service_fee, shipping, tax,
                              additional_expense, discount, total, content_digest, voided_at,
                              void_reason)
    SELECT tevo_order_id, customer_id, $23, $24, $25, $26, $27, $28, $29, $41,
           CASE WHEN $42::text IS NULL THEN NULL ELSE now() END, $42
    FROM sale
    ON CONFLICT (tevo_order_id) DO NOTHING
    RETURNING id
), line AS ({_lines_sql(30, "invoice.id", "invoice,")}
)
SELECT id FROM invoice
"""  # noqa: S608 - built from constants only
AMEND_SQL = """
UPDATE pos.invoices SET subtotal = $2, service_fee = $3, shipping = $4, tax = $5,
    additional_expense = $6, discount = $7, total = $8, content_digest = $9, amended_at = now()
WHERE id = $1
"""
ADOPT_SQL = "UPDATE pos.invoices SET content_digest = $2 WHERE id = $1"
DROP_LINES_SQL = "DELETE FROM pos.invoice_lines WHERE invoice_id = $1"
LINES_SQL = _lines_sql(2, "$1", "")
VOID_SQL = "UPDATE pos.invoices SET voided_at = now(), void_reason = $2 WHERE id = $1"
REASON_SQL = "UPDATE pos.invoices SET void_reason = $2 WHERE id = $1"
RESTORE_SQL = "UPDATE pos.invoices SET voided_at = NULL, void_reason = NULL WHERE id = $1"


def invoice_args(target: Target) -> tuple[object, ...]:
    """The parameters of `INVOICE_AFTER_SALE_SQL` beyond the sale's."""
    assert target.invoice is not None  # noqa: S101 - the caller makes an invoice only with one
    order = target.invoice.order
    return (*_amounts(order), *_columns(order), content_digest(order), target.void_reason)


def content_digest(order: Order) -> str:
    """SHA-256 of what an invoice made from `order` says: its amounts and its lines."""
    content = [_amounts(order), [_line(item) for item in order.items]]
    return hashlib.sha256(json.dumps(content, default=str).encode()).hexdigest()


def _amounts(order: Order) -> tuple[object, ...]:
    return (order.subtotal, order.service_fee, order.shipping, order.tax,
            order.additional_expense, order.discount, order.total)  # fmt: skip


def _columns(order: Order) -> list[list[object]]:
    """One array per line column, a line per item; `settle` checked price and quantity."""
    lines = [_line(item) for item in order.items]
    return [list(column) for column in zip(*lines, strict=True)] if lines else [[]] * 11


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


async def sync_invoice(conn: Connection, stored: asyncpg.Record, target: Target) -> list[str]:
    """Bring an existing invoice to `target`: amend, void or restore it; what was done.

    `stored` has the invoice's `invoice_id`, `content_digest`, `voided` and `void_reason`.
    """
    if target.invoice is None:  # the rules no longer see an invoice (a setting changed): keep it
        return []
    order, done = target.invoice.order, []
    digest = content_digest(order)
    if stored["content_digest"] is None:  # made before migration 006: taken as it stands
        await conn.execute(ADOPT_SQL, stored["invoice_id"], digest)
    elif stored["content_digest"] != digest:
        await conn.execute(AMEND_SQL, stored["invoice_id"], *_amounts(order), digest)
        await conn.execute(DROP_LINES_SQL, stored["invoice_id"])
        await conn.execute(LINES_SQL, stored["invoice_id"], *_columns(order))
        done.append("invoice amended")
    if target.void_reason is not None and not stored["voided"]:
        await conn.execute(VOID_SQL, stored["invoice_id"], target.void_reason)
        done.append("invoice voided")
    elif target.void_reason is not None and stored["void_reason"] != target.void_reason:
        # voided on what was known then; the reason follows the timeline like the rest
        await conn.execute(REASON_SQL, stored["invoice_id"], target.void_reason)
    elif target.void_reason is None and stored["voided"]:
        await conn.execute(RESTORE_SQL, stored["invoice_id"])
        done.append("invoice restored")
    return done
