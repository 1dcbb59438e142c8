"""Every consumer the processor runs. Adding an event type: one module and one line here."""

from __future__ import annotations

from processor.consumers import (
    buyer_airbill_generated,
    buyer_airbill_requested,
    buyer_delivery_complete,
    buyer_delivery_reclassified,
    buyer_delivery_shipped,
    buyer_delivery_updated,
    buyer_etickets_finalized,
    buyer_in_hand_updated,
    buyer_order_accepted,
    buyer_order_canceled,
    buyer_order_rejected,
    buyer_proof_of_transfer_uploaded,
    catalog_events,
    seller_airbill_uploaded,
    seller_delivery_updated,
    seller_fraud_response_received,
    seller_order_canceled,
    seller_order_created,
    seller_order_rejected,
)
from processor.handler import Consumer

CONSUMERS: tuple[Consumer, ...] = (
    # seller side: sales and invoices
    seller_order_created.CONSUMER,
    seller_fraud_response_received.CONSUMER,
    seller_airbill_uploaded.CONSUMER,
    seller_delivery_updated.CONSUMER,
    seller_order_canceled.CONSUMER,
    seller_order_rejected.CONSUMER,
    # buyer side: purchase orders
    buyer_order_accepted.CONSUMER,
    buyer_order_canceled.CONSUMER,
    buyer_order_rejected.CONSUMER,
    buyer_etickets_finalized.CONSUMER,
    buyer_in_hand_updated.CONSUMER,
    buyer_airbill_requested.CONSUMER,
    buyer_airbill_generated.CONSUMER,
    buyer_delivery_reclassified.CONSUMER,
    buyer_delivery_updated.CONSUMER,
    buyer_delivery_shipped.CONSUMER,
    buyer_delivery_complete.CONSUMER,
    buyer_proof_of_transfer_uploaded.CONSUMER,
    # catalog: TEvo's events
    catalog_events.CONSUMER,
)
