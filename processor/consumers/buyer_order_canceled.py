"""`buyer.order_canceled`: the broker's purchase was canceled; cancel its purchase order."""

from __future__ import annotations

from processor.deps import Deps
from processor.pos.purchases import Change, apply_order_webhook
from processor.runtime.message import Applied, Connection, Consumer, Inbound

CHANGE = Change("order canceled", status="canceled")


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order_webhook(inbound, conn, deps, CHANGE)


CONSUMER = Consumer("buyer.order_canceled", ("buyer.order_canceled",), handle)
