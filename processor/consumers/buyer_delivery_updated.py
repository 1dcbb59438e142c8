"""`buyer.delivery_updated`: a purchase's delivery changed; record the delivery state."""

from __future__ import annotations

from processor.deps import Deps
from processor.pos.purchases import Change, apply_order_webhook
from processor.runtime.message import Applied, Connection, Consumer, Inbound

CHANGE = Change("delivery updated", delivery_state="updated")


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order_webhook(inbound, conn, deps, CHANGE)


CONSUMER = Consumer("buyer.delivery_updated", ("buyer.delivery_updated",), handle)
