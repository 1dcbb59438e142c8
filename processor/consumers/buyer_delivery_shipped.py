"""`buyer.delivery_shipped`: the seller shipped a purchase; record the delivery state."""

from __future__ import annotations

from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.pos.purchases import Change, apply_order_webhook

CHANGE = Change("delivery shipped", delivery_state="shipped")


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order_webhook(inbound, conn, deps, CHANGE)


CONSUMER = Consumer("buyer.delivery_shipped", ("buyer.delivery_shipped",), handle)
