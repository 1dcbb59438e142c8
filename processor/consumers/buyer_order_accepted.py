"""`buyer.order_accepted`: the seller accepted the broker's order; record the purchase order."""

from __future__ import annotations

from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.pos.purchases import Change, apply_order_webhook

CHANGE = Change("order accepted", accepts=True)


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order_webhook(inbound, conn, deps, CHANGE)


CONSUMER = Consumer("buyer.order_accepted", ("buyer.order_accepted",), handle)
