"""`seller.order_canceled`: the order is canceled; the sale ends `canceled`, its invoice voided."""

from __future__ import annotations

from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.pos.sales import apply_order


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order(inbound, conn, deps, cancels="order canceled")


CONSUMER = Consumer("seller.order_canceled", ("seller.order_canceled",), handle)
