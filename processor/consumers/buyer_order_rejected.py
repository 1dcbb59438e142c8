"""`buyer.order_rejected`: the seller rejected the broker's order; reject its purchase order."""

from __future__ import annotations

from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.pos.purchases import Change, apply_order_webhook

CHANGE = Change("order rejected", status="rejected")


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order_webhook(inbound, conn, deps, CHANGE)


CONSUMER = Consumer("buyer.order_rejected", ("buyer.order_rejected",), handle)
