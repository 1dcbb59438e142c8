"""`buyer.delivery_reclassified`: a purchase's delivery method changed; record the new state."""

from __future__ import annotations

from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.pos.purchases import Change, apply_order_webhook

CHANGE = Change("delivery reclassified", delivery_state="reclassified")


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order_webhook(inbound, conn, deps, CHANGE)


CONSUMER = Consumer("buyer.delivery_reclassified", ("buyer.delivery_reclassified",), handle)
