"""A delivery as the handler contract's `Inbound`: decoded, placed in its batch, logged with."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog
from aio_pika.abc import AbstractIncomingMessage

from contracts import envelope as h
from contracts import message_id
from contracts.tracing import trace_id_of
from processor.errors import ContractViolation
from processor.handler import Consumer, Inbound


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


def decoded(delivery: AbstractIncomingMessage) -> Inbound | ContractViolation:
    """The delivery as an `Inbound`, or why its headers break the contract (the dispatcher
    dead-letters it, saying why)."""
    try:
        return decode(delivery)
    except ContractViolation as exc:
        return exc


def batch_position(consumer: Consumer, inbound: Inbound) -> tuple[int, str]:
    """Where a message goes in its batch: by what its handler locks, then by its id (so the
    inbox rows, too, are always written in one order); -1 when its body has no such key (the
    handler rejects it)."""
    try:
        return consumer.lock_key(inbound), inbound.message_id
    except ContractViolation:
        return -1, inbound.message_id


def log_context(
    consumer: Consumer, inbound: Inbound | Exception, message_id: str | None = None
) -> contextlib.AbstractContextManager[Any]:
    """Log context of one message: every line logged while it is applied or settled says which,
    and, when the webhook was traced, its trace (a batch's span continues only its first's).

    The one way the processor binds it. `inbound` is the decoded message, or why it could not
    be decoded: then the delivery's `message_id` is all there is to say.
    """
    if not isinstance(inbound, Inbound):
        return _Bound({"consumer": consumer.name, "message_id": message_id})
    fields = {
        "consumer": consumer.name,
        "message_id": inbound.message_id,
        "event_type": inbound.event_type,
        "order_group_id": inbound.order_group_id,
    }
    trace_id = trace_id_of(inbound.headers)
    if trace_id is not None:
        fields["trace_id"] = trace_id
    return _Bound(fields)


class _Bound(contextlib.AbstractContextManager[None]):
    """structlog's `bound_contextvars`, without reading the whole context first: entered for
    every message, it cost half as much again as binding and resetting alone."""

    __slots__ = ("_fields", "_tokens")

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields
        self._tokens: Mapping[str, contextvars.Token[Any]] = {}

    def __enter__(self) -> None:
        self._tokens = structlog.contextvars.bind_contextvars(**self._fields)

    def __exit__(self, *_: object) -> None:
        structlog.contextvars.reset_contextvars(**self._tokens)
