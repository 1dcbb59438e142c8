"""`seller.airbill_uploaded`: the seller's airbill is in; update the sale from the order."""

from __future__ import annotations

from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.pos.sales import apply_order


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order(inbound, conn, deps)


CONSUMER = Consumer("seller.airbill_uploaded", ("seller.airbill_uploaded",), handle)
