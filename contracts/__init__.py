"""Data both sides share: the webhook envelope, event types, order models, topology names."""

from contracts.envelope import WebhookEnvelope, message_id
from contracts.events import (
    BUYER_EVENTS,
    CATALOG_EVENTS,
    DOCUMENTED_ROUTING_KEYS,
    EVENT_TYPE_PATTERN,
    SELLER_EVENTS,
    EventType,
    Recipient,
    routing_key,
)
from contracts.orders import BodyError, Order, OrderItem, parse_order, parse_order_item
from contracts.topology import Topology

__all__ = [
    "BUYER_EVENTS",
    "CATALOG_EVENTS",
    "DOCUMENTED_ROUTING_KEYS",
    "EVENT_TYPE_PATTERN",
    "SELLER_EVENTS",
    "BodyError",
    "EventType",
    "Order",
    "OrderItem",
    "Recipient",
    "Topology",
    "WebhookEnvelope",
    "message_id",
    "parse_order",
    "parse_order_item",
    "routing_key",
]
