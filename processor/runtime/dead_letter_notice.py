"""The notice of a dead-lettered delivery: which order it names, even when its body is broken."""

from __future__ import annotations

import json

from aio_pika.abc import AbstractIncomingMessage

from contracts.envelope import HEADER_ORDER_GROUP_ID
from processor.errors import ContractViolation, ProcessingError
from processor.notify import Notice, dead_lettered
from processor.runtime.message import decoded
from processor.runtime.retries import Decision


def dead_letter_notice(
    base_url: str,
    consumer: str,
    delivery: AbstractIncomingMessage,
    decision: Decision,
    error: ProcessingError,
) -> Notice:
    """The notice of `delivery` dead-lettered by `decision` after `error`."""
    return dead_lettered(
        base_url,
        consumer=consumer,
        message_id=delivery.message_id or "",
        order=(_order_id(delivery), _group_id(delivery)),
        reason=decision.reason or "dead-lettered",
        error=type(error).__name__,
    )


def _order_id(delivery: AbstractIncomingMessage) -> int | None:
    inbound = decoded(delivery)
    try:
        return None if isinstance(inbound, ContractViolation) else inbound.order().id
    except ContractViolation:
        pass  # a body that breaks the contract elsewhere may still say which order it is
    try:
        found = json.loads(delivery.body).get("id")
    except (ValueError, AttributeError):
        return None
    text = str(found) if isinstance(found, int | str) and not isinstance(found, bool) else ""
    return int(text) if text.isdigit() and len(text) < 19 else None


def _group_id(delivery: AbstractIncomingMessage) -> int | None:
    value = (delivery.headers or {}).get(HEADER_ORDER_GROUP_ID)
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return int(text) if text.isdigit() else None
