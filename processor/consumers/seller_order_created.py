"""`seller.order_created`: TEvo sold the broker's tickets; record the sale, invoice it if due.

Office buyers are invoiced at once; Client buyers get a customer and, with Riskified in use,
wait for `fraud_check_status=approved`; other buyers are kept for review (`pos.sale_rules`).
"""

from __future__ import annotations

from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.pos.sales import apply_order


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order(inbound, conn, deps)


CONSUMER = Consumer("seller.order_created", ("seller.order_created",), handle)
