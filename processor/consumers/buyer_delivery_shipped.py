"""`buyer.delivery_shipped`: the seller shipped a purchase; record the delivery state."""

from __future__ import annotations

from processor.deps import Deps
from processor.pos.purchases import Change, apply_order_webhook
from processor.runtime.message import Applied, Connection, Consumer, Inbound

CHANGE = Change("delivery shipped", delivery_state="shipped")


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order_webhook(inbound, conn, deps, CHANGE)


CONSUMER = Consumer("buyer.delivery_shipped", ("buyer.delivery_shipped",), handle)
