"""`buyer.etickets_finalized`: one line's e-tickets are ready; its body is an order item."""

from __future__ import annotations

from processor.errors import ContractViolation
from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.pos.purchases import finalize_etickets


async def handle(inbound: Inbound, conn: Connection, _deps: Deps) -> Applied:
    return await finalize_etickets(conn, inbound)


def item_order_id(inbound: Inbound) -> int:
    """The order the item belongs to, whose purchase order `handle` locks."""
    order_id = inbound.order_item().order_id
    if order_id is None:
        raise ContractViolation("order_id: the order item names no order")
    return order_id


CONSUMER = Consumer(
    "buyer.etickets_finalized", ("buyer.etickets_finalized",), handle, lock_key=item_order_id
)
