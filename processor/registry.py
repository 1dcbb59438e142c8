"""Every consumer the processor runs. Adding an event type: one module and one line here."""

from __future__ import annotations

from processor.consumers import (
    seller_airbill_uploaded,
    seller_delivery_updated,
    seller_fraud_response_received,
    seller_order_canceled,
    seller_order_created,
    seller_order_rejected,
)
from processor.handling import Consumer

CONSUMERS: tuple[Consumer, ...] = (
    seller_order_created.CONSUMER,
    seller_fraud_response_received.CONSUMER,
    seller_airbill_uploaded.CONSUMER,
    seller_delivery_updated.CONSUMER,
    seller_order_canceled.CONSUMER,
    seller_order_rejected.CONSUMER,
)
