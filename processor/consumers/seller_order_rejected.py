"""`seller.order_rejected`: the order was rejected; the sale ends `canceled`, its invoice voided."""

from __future__ import annotations

from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.pos.sales import apply_order


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order(inbound, conn, deps, cancels="order rejected")


CONSUMER = Consumer("seller.order_rejected", ("seller.order_rejected",), handle)
