"""`buyer.etickets_finalized`: one line's e-tickets are ready; its body is an order item."""

from __future__ import annotations

from processor.pos.purchases import finalize_etickets
from processor.runtime.message import Applied, Connection, Consumer, Deps, Inbound


async def handle(inbound: Inbound, conn: Connection, _deps: Deps) -> Applied:
    return await finalize_etickets(conn, inbound)


CONSUMER = Consumer("buyer.etickets_finalized", ("buyer.etickets_finalized",), handle)
