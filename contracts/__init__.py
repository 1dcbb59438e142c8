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
from contracts.orders import (
    CANCELED_STATES,
    CLIENT,
    OFFICE,
    REJECTED,
    BodyError,
    FraudCheck,
    Order,
    OrderItem,
    as_utc,
    parse_order,
    parse_order_item,
    parse_timestamp,
)
from contracts.topology import Topology

__all__ = [
    "BUYER_EVENTS",
    "CANCELED_STATES",
    "CATALOG_EVENTS",
    "CLIENT",
    "DOCUMENTED_ROUTING_KEYS",
    "EVENT_TYPE_PATTERN",
    "OFFICE",
    "REJECTED",
    "SELLER_EVENTS",
    "BodyError",
    "EventType",
    "FraudCheck",
    "Order",
    "OrderItem",
    "Recipient",
    "Topology",
    "WebhookEnvelope",
    "as_utc",
    "message_id",
    "parse_order",
    "parse_order_item",
    "parse_timestamp",
    "routing_key",
]
