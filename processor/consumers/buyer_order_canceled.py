"""`buyer.order_canceled`: the broker's purchase was canceled; cancel its purchase order."""

from __future__ import annotations

from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.pos.purchases import Change, apply_order_webhook

CHANGE = Change("order canceled", status="canceled")


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order_webhook(inbound, conn, deps, CHANGE)


CONSUMER = Consumer("buyer.order_canceled", ("buyer.order_canceled",), handle)
