"""`buyer.airbill_generated`: the airbill for a purchase exists; record the delivery state."""

from __future__ import annotations

from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.pos.purchases import Change, apply_order_webhook

CHANGE = Change("airbill generated", delivery_state="airbill_generated")


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order_webhook(inbound, conn, deps, CHANGE)


CONSUMER = Consumer("buyer.airbill_generated", ("buyer.airbill_generated",), handle)
