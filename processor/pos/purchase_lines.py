"""Purchase order lines: written from the order's items, and their e-tickets marked finalized.

`etickets_finalized` may arrive before the line it finalizes exists (its `order_accepted` is late,
or the item is not in the version applied so far): it is remembered in
`pos.pending_eticket_finalizations` and applied when the line is written, so the line ends
finalized in any arrival order. Callers hold the purchase order's lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts import Order, OrderItem
from processor.errors import ContractViolation
from processor.handler import Connection

LINE_SQL = """
INSERT INTO pos.purchase_order_lines (purchase_order_id, tevo_item_id, ticket_group_id, remote_id,
    section, row, seats, quantity, price, event_id, event_name, event_occurs_at, in_hand_on,
    removed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
        CASE WHEN $14::boolean THEN now() END)
ON CONFLICT (purchase_order_id, tevo_item_id) DO
"""
LINE_REPLACE = """UPDATE SET ticket_group_id = EXCLUDED.ticket_group_id, removed_at = NULL,
    remote_id = EXCLUDED.remote_id, section = EXCLUDED.section, row = EXCLUDED.row,
    seats = EXCLUDED.seats, quantity = EXCLUDED.quantity, price = EXCLUDED.price,
    event_id = EXCLUDED.event_id, event_name = EXCLUDED.event_name,
    event_occurs_at = EXCLUDED.event_occurs_at,
    in_hand_on = COALESCE(EXCLUDED.in_hand_on, purchase_order_lines.in_hand_on)"""
# The earliest finalization wins, so the time does not depend on arrival order either.
APPLY_WAITING_SQL = """
WITH found AS (
    DELETE FROM pos.pending_eticket_finalizations p USING pos.purchase_order_lines l
    WHERE p.tevo_order_id = $2 AND l.purchase_order_id = $1
      AND (p.tevo_item_id = l.tevo_item_id
           OR (p.tevo_item_id IS NULL AND p.ticket_group_id = l.ticket_group_id))
    RETURNING l.id AS line_id, p.finalized_at
)
UPDATE pos.purchase_order_lines l
SET etickets_finalized_at = LEAST(l.etickets_finalized_at, f.finalized_at)
FROM (SELECT line_id, min(finalized_at) AS finalized_at FROM found GROUP BY line_id) f
WHERE l.id = f.line_id
"""
FINALIZE_SQL = """
UPDATE pos.purchase_order_lines
SET etickets_finalized_at = LEAST(etickets_finalized_at, COALESCE($4, now()))
WHERE purchase_order_id = $1
  AND (tevo_item_id = $2 OR ($2::bigint IS NULL AND ticket_group_id = $3))
RETURNING true
"""
# Lines the newest version no longer lists: removed, or substituted by another item.
REMOVED_SQL = """
UPDATE pos.purchase_order_lines SET removed_at = now()
WHERE purchase_order_id = $1 AND tevo_item_id IS NOT NULL AND removed_at IS NULL
  AND NOT (tevo_item_id = ANY($2::bigint[]))
"""
REMEMBER_SQL = """
INSERT INTO pos.pending_eticket_finalizations (tevo_order_id, tevo_item_id, ticket_group_id,
                                               finalized_at, message_id)
VALUES ($1, $2, $3, COALESCE($4, now()), $5)
"""


async def write_lines(
    conn: Connection, po_id: int, order: Order, *, replace: bool, created: bool
) -> None:
    """Lines from the order's items. `replace` (the newest version) decides which lines stand:
    it changes existing ones and marks those it lacks removed; an older version only adds, as
    removed, lines it alone lists. So the lines are the same whichever version came first.

    An item without an id cannot be recognized later, so it is only written with a new order.
    """
    removed = not replace
    keyed = [
        (*_line(po_id, n, item), removed)
        for n, item in enumerate(order.items)
        if item.id is not None
    ]
    bare = [
        (*_line(po_id, n, item), False) for n, item in enumerate(order.items) if item.id is None
    ]
    await conn.executemany(LINE_SQL + (LINE_REPLACE if replace else "NOTHING"), keyed)
    if replace and not created:
        await conn.execute(REMOVED_SQL, po_id, [item.id for item in order.items if item.id])
    if created and bare:
        await conn.executemany(LINE_SQL + "NOTHING", bare)


def _line(po_id: int, n: int, item: OrderItem) -> tuple[object, ...]:
    if item.price is None or item.quantity is None:
        raise ContractViolation(f"items.{n}: price and quantity are required")
    group = item.ticket_group
    event = group.event if group else None
    seats = ",".join(str(s) for s in group.seats) if group and group.seats else None
    return (
        po_id,
        item.id,
        group.id if group else None,
        group.remote_id if group else None,
        group.section if group else None,
        group.row if group else None,
        seats,
        item.quantity,
        item.price,
        event.id if event else None,
        event.name if event else None,
        event.occurs_at if event else None,
        group.in_hand_on if group else None,
    )


async def apply_waiting_finalizations(conn: Connection, po_id: int, tevo_order_id: int) -> int:
    """Finalize the lines whose `etickets_finalized` came first; how many lines changed."""
    status: str = await conn.execute(APPLY_WAITING_SQL, po_id, tevo_order_id)
    return int(status.rsplit(" ", 1)[-1])


@dataclass(frozen=True)
class Finalization:
    """One `etickets_finalized`: which line (item id, else ticket group) and when."""

    tevo_order_id: int
    item_id: int | None
    ticket_group_id: int | None
    at: datetime | None  # None: the time it is applied
    message_id: str


async def finalize_line(conn: Connection, po_id: int, done: Finalization) -> bool:
    """Mark the line finalized; False when the purchase order has no such line (yet)."""
    found = await conn.fetchval(FINALIZE_SQL, po_id, done.item_id, done.ticket_group_id, done.at)
    return bool(found)


async def remember_finalization(conn: Connection, done: Finalization) -> None:
    """Keep a finalization for a line not written yet; applied when the line is written."""
    await conn.execute(
        REMEMBER_SQL,
        done.tevo_order_id,
        done.item_id,
        done.ticket_group_id,
        done.at,
        done.message_id,
    )
