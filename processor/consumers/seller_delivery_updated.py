"""`seller.delivery_updated`: the delivery moved on; record its state on the sale."""

from __future__ import annotations

from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.pos.sales import apply_order


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order(inbound, conn, deps)


CONSUMER = Consumer("seller.delivery_updated", ("seller.delivery_updated",), handle)
