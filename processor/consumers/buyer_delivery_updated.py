"""`buyer.delivery_updated`: a purchase's delivery changed; record the delivery state."""

from __future__ import annotations

from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.pos.purchases import Change, apply_order_webhook

CHANGE = Change("delivery updated", delivery_state="updated")


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order_webhook(inbound, conn, deps, CHANGE)


CONSUMER = Consumer("buyer.delivery_updated", ("buyer.delivery_updated",), handle)
