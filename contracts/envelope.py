"""The webhook envelope as TEvo posts it, and the headers and id it travels under."""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict

from contracts.events import Recipient, routing_key
from contracts.tracing import inject

# AMQP header names. Plain words so the management console shows what a message is.
HEADER_ORDER_GROUP_ID = "order_group_id"
HEADER_EVENT_ID = "event_id"
HEADER_RECIPIENT = "recipient"
HEADER_EVENT_TYPE = "event_type"
HEADER_RECEIVED_AT = "received_at"
# Set on messages that did not come from a TEvo webhook (e.g. `reconcile`); history says so.
HEADER_SOURCE = "source"


class WebhookEnvelope(BaseModel):
    """One webhook: the four form fields, checked by the ingress, opaque `body` kept verbatim."""

    model_config = ConfigDict(frozen=True)

    recipient: Recipient
    event_type: str
    body: bytes
    order_group_id: int | None = None
    event_id: int | None = None

    @property
    def routing_key(self) -> str:
        return routing_key(self.recipient, self.event_type)

    @cached_property
    def message_id(self) -> str:
        # computed once per webhook however often it is read (answer, log, publish): a SHA-256
        # of the whole body
        return message_id(self.recipient, self.event_type, self.order_group_id, self.body)

    def headers(self, received_at: datetime) -> dict[str, Any]:
        headers: dict[str, Any] = {
            HEADER_RECIPIENT: self.recipient.value,
            HEADER_EVENT_TYPE: self.event_type,
            HEADER_RECEIVED_AT: received_at.isoformat(),
        }
        if self.order_group_id is not None:
            headers[HEADER_ORDER_GROUP_ID] = self.order_group_id
        if self.event_id is not None:
            headers[HEADER_EVENT_ID] = self.event_id
        inject(headers)  # the publish's trace context (traceparent), when tracing is on
        return headers


def message_id(recipient: str, event_type: str, order_group_id: int | None, body: bytes) -> str:
    """A deterministic id: TEvo's retries and our own republishes of one webhook share it."""
    digest = hashlib.sha256()
    group = "" if order_group_id is None else str(order_group_id)
    for part in (recipient, event_type, group):
        digest.update(part.encode())
        digest.update(b"\x00")
    digest.update(body)
    return digest.hexdigest()


# Headers the processor adds when a message fails, readable in the console's "Get messages".
HEADER_ATTEMPTS = "attempts"
HEADER_FIRST_FAILED_AT = "first_failed_at"
HEADER_LAST_FAILED_AT = "last_failed_at"
HEADER_ERROR_TYPE = "error_type"
HEADER_ERROR_MESSAGE = "error_message"
HEADER_DEAD_LETTER_REASON = "dead_letter_reason"
HEADER_CONSUMER = "consumer"
HEADER_ORIGINAL_ROUTING_KEY = "original_routing_key"
FAILURE_HEADERS = (
    HEADER_ATTEMPTS,
    HEADER_FIRST_FAILED_AT,
    HEADER_LAST_FAILED_AT,
    HEADER_ERROR_TYPE,
    HEADER_ERROR_MESSAGE,
    HEADER_DEAD_LETTER_REASON,
    HEADER_CONSUMER,
    HEADER_ORIGINAL_ROUTING_KEY,
)
