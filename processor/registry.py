"""Every consumer the processor runs. Adding an event type: one module and one line here."""

from __future__ import annotations

from processor.consumers import seller_order_created
from processor.handling import Consumer

CONSUMERS: tuple[Consumer, ...] = (seller_order_created.CONSUMER,)
