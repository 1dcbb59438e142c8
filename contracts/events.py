"""Who a webhook is for and what happened: recipients, event types and routing keys."""

from __future__ import annotations

import re
from enum import StrEnum


class Recipient(StrEnum):
    """The `recipient` form field: which side of the order the webhook speaks to."""

    SELLER = "seller"
    BUYER = "buyer"
    # Catalog webhooks (`event_*`) carry `event_id` and no order; they route under this name.
    CATALOG = "catalog"


class EventType(StrEnum):
    """Every event type TEvo documents. Others may come and are accepted all the same."""

    # to the seller
    ORDER_CREATED = "order_created"
    FRAUD_RESPONSE_RECEIVED = "fraud_response_received"
    AIRBILL_UPLOADED = "airbill_uploaded"
    DELIVERY_UPDATED = "delivery_updated"
    # to the buyer
    ORDER_ACCEPTED = "order_accepted"
    ORDER_CANCELED = "order_canceled"
    ORDER_REJECTED = "order_rejected"
    ETICKETS_FINALIZED = "etickets_finalized"
    IN_HAND_UPDATED = "in_hand_updated"
    AIRBILL_REQUESTED = "airbill_requested"
    AIRBILL_GENERATED = "airbill_generated"
    DELIVERY_RECLASSIFIED = "delivery_reclassified"
    DELIVERY_SHIPPED = "delivery_shipped"
    DELIVERY_COMPLETE = "delivery_complete"
    PROOF_OF_TRANSFER_UPLOADED = "proof_of_transfer_uploaded"
    # catalog
    EVENT_CREATED = "event_created"
    EVENT_UPDATED = "event_updated"
    EVENT_DELETED = "event_deleted"


SELLER_EVENTS: frozenset[EventType] = frozenset(
    {
        EventType.ORDER_CREATED,
        EventType.FRAUD_RESPONSE_RECEIVED,
        EventType.AIRBILL_UPLOADED,
        EventType.DELIVERY_UPDATED,
    }
)
BUYER_EVENTS: frozenset[EventType] = frozenset(
    {
        EventType.ORDER_ACCEPTED,
        EventType.ORDER_CANCELED,
        EventType.ORDER_REJECTED,
        EventType.ETICKETS_FINALIZED,
        EventType.IN_HAND_UPDATED,
        EventType.AIRBILL_REQUESTED,
        EventType.AIRBILL_GENERATED,
        EventType.DELIVERY_RECLASSIFIED,
        EventType.DELIVERY_UPDATED,
        EventType.DELIVERY_SHIPPED,
        EventType.DELIVERY_COMPLETE,
        EventType.PROOF_OF_TRANSFER_UPLOADED,
    }
)
CATALOG_EVENTS: frozenset[EventType] = frozenset(
    {EventType.EVENT_CREATED, EventType.EVENT_UPDATED, EventType.EVENT_DELETED}
)

DOCUMENTED_ROUTING_KEYS: frozenset[str] = frozenset(
    [f"{Recipient.SELLER}.{e}" for e in SELLER_EVENTS]
    + [f"{Recipient.BUYER}.{e}" for e in BUYER_EVENTS]
    + [f"{Recipient.CATALOG}.{e}" for e in CATALOG_EVENTS]
)

# No dot, star or hash can reach a routing key: a webhook names exactly one topic.
EVENT_TYPE_PATTERN = re.compile(r"[a-z0-9_]{1,64}")


def routing_key(recipient: str, event_type: str) -> str:
    """The topic key a webhook is published under: `<recipient>.<event_type>`."""
    return f"{recipient}.{event_type}"
