"""`buyer.proof_of_transfer_uploaded`: the seller proved a mobile transfer; record it."""

from __future__ import annotations

from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.pos.purchases import Change, apply_order_webhook

CHANGE = Change("proof of transfer uploaded", delivery_state="proof_of_transfer_uploaded")


async def handle(inbound: Inbound, conn: Connection, deps: Deps) -> Applied:
    return await apply_order_webhook(inbound, conn, deps, CHANGE)


CONSUMER = Consumer(
    "buyer.proof_of_transfer_uploaded", ("buyer.proof_of_transfer_uploaded",), handle
)
