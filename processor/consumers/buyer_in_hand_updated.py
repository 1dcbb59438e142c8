"""`buyer.in_hand_updated`: the seller's in-hand date moved; record it on the purchase order."""

from __future__ import annotations

from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.pos.purchases import Change, apply_order_webhook

CHANGE = Change("in-hand date updated")


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order_webhook(inbound, conn, deps, CHANGE)


CONSUMER = Consumer("buyer.in_hand_updated", ("buyer.in_hand_updated",), handle)
