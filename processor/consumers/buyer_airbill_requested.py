"""`buyer.airbill_requested`: an airbill was requested for a purchase; record the delivery state."""

from __future__ import annotations

from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.pos.purchases import Change, apply_order_webhook

CHANGE = Change("airbill requested", delivery_state="airbill_requested")


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order_webhook(inbound, conn, deps, CHANGE)


CONSUMER = Consumer("buyer.airbill_requested", ("buyer.airbill_requested",), handle)
