"""`seller.fraud_response_received`: Riskified answered; the body is the whole order again.

`approved` invoices the sale (even before its `order_created` is processed), `declined` closes
it as `fraud_declined`, `pending` changes nothing; a stale answer never moves a sale backwards.
"""

from __future__ import annotations

from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.pos.sales import apply_order


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order(inbound, conn, deps)


CONSUMER = Consumer("seller.fraud_response_received", ("seller.fraud_response_received",), handle)
