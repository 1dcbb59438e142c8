"""`seller.airbill_uploaded`: the seller's airbill is in; update the sale from the order."""

from __future__ import annotations

from collections.abc import Sequence

from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.pos.sale_batch import apply_orders
from processor.pos.sales import apply_order


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order(inbound, conn, deps)


async def handle_batch(conn: Connection, deps: Deps, batch: Sequence[Inbound]) -> list[Applied]:
    return await apply_orders(conn, deps, batch)


CONSUMER = Consumer(
    "seller.airbill_uploaded", ("seller.airbill_uploaded",), handle, batch=handle_batch
)
