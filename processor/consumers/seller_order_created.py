"""`seller.order_created`: TEvo sold the broker's tickets; record the sale."""

from __future__ import annotations

from processor.handling import Applied, Connection, Consumer, Deps, Inbound, Record
from processor.pos.sales import record_sale


async def handle(inbound: Inbound, conn: Connection, _deps: Deps) -> Applied:
    order = inbound.order()
    buyer_type = order.buyer.type if order.buyer else None
    status = "invoiced" if buyer_type == "Office" else "needs_review"
    created = await record_sale(conn, inbound, order, status)
    return Applied(
        order.id,
        "sale recorded" if created else "sale already recorded",
        order.normalized_state,
        created=(Record.SALE,) if created else (),
    )


CONSUMER = Consumer("seller.order_created", ("seller.order_created",), handle)
