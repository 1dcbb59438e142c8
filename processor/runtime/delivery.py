"""A RabbitMQ delivery as the dispatcher reads and settles it: its `Inbound`, key, ack or nack."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from contracts import envelope as h
from contracts import message_id, routing_key
from processor.errors import ContractViolation
from processor.runtime.message import Inbound

log = structlog.get_logger("processor.runtime.dispatch")


def decode(delivery: AbstractIncomingMessage) -> Inbound:
    """The delivery as an `Inbound`; headers that break the contract are a `ContractViolation`."""
    headers: dict[str, Any] = dict(delivery.headers or {})
    recipient, event_type = headers.get(h.HEADER_RECIPIENT), headers.get(h.HEADER_EVENT_TYPE)
    if not isinstance(recipient, str) or not isinstance(event_type, str):
        raise ContractViolation("headers recipient and event_type are required")
    try:
        group = _optional_int(headers.get(h.HEADER_ORDER_GROUP_ID))
        event_id = _optional_int(headers.get(h.HEADER_EVENT_ID))
        received = headers.get(h.HEADER_RECEIVED_AT)
        received_at = datetime.fromisoformat(received) if isinstance(received, str) else None
    except (TypeError, ValueError) as exc:
        raise ContractViolation(f"bad header: {exc}") from None
    body = delivery.body
    return Inbound(
        message_id=delivery.message_id or message_id(recipient, event_type, group, body),
        recipient=recipient,
        event_type=event_type,
        body=body,
        order_group_id=group,
        event_id=event_id,
        received_at=received_at,
        headers=headers,
    )


def _optional_int(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bytes):
        value = value.decode()
    if not isinstance(value, int | str):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return int(value)


def original_key(headers: dict[str, Any], delivery: AbstractIncomingMessage) -> str:
    """The routing key the webhook was first published under, also after a trip to a delay queue."""
    recipient, event_type = headers.get(h.HEADER_RECIPIENT), headers.get(h.HEADER_EVENT_TYPE)
    if isinstance(recipient, str) and isinstance(event_type, str):
        return routing_key(recipient, event_type)
    return delivery.routing_key or ""


async def settle(settling: Any) -> None:
    """Await an ack or nack; on a channel that just died, the broker redelivers (the inbox
    absorbs the copy), so that is logged, not raised."""
    try:
        await settling
    except CONNECTION_EXCEPTIONS as exc:
        log.warning("message.settle_failed", error=type(exc).__name__)
