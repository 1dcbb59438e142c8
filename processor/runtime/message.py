"""What a consumer's handler is given and what it gives back; a delivery decoded into an `Inbound`.

A handler is a plain async function of (message, transaction connection, dependencies). It never
acks, connects or commits: `processor.runtime.dispatch` owns all three.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
from aio_pika.abc import AbstractIncomingMessage

from contracts import BodyError, Order, OrderItem, message_id, parse_order, parse_order_item
from contracts import envelope as h
from processor.deps import Deps
from processor.errors import ContractViolation


@dataclass(frozen=True)
class Inbound:
    """One webhook as the processor sees it: the envelope's fields and the raw body."""

    message_id: str
    recipient: str
    event_type: str
    body: bytes
    order_group_id: int | None = None
    event_id: int | None = None
    received_at: datetime | None = None
    headers: dict[str, Any] = field(default_factory=dict)

    def order(self) -> Order:
        """The body as an order; a body that is not one is a contract violation.

        Parsed once: the dispatcher reads the order id to sort a batch, the handler the rest.
        """
        parsed = self._parsed_order
        if isinstance(parsed, BodyError):
            raise ContractViolation(f"body is not an order: {parsed}")
        return parsed

    @cached_property
    def _parsed_order(self) -> Order | BodyError:
        try:
            return parse_order(self.body)
        except BodyError as exc:
            return exc

    def order_item(self) -> OrderItem:
        try:
            return parse_order_item(self.body)
        except BodyError as exc:
            raise ContractViolation(f"body is not an order item: {exc}") from None


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


class Record(StrEnum):
    """Kinds of POS record a handler may create; the dispatcher counts them after the commit."""

    SALE = "sale"
    INVOICE = "invoice"
    PURCHASE_ORDER = "purchase_order"


@dataclass(frozen=True)
class Applied:
    """What a handler did, for `pos.order_history`: the order it touched and a short note.

    `created` lists the records this message created (none for an update), for the
    `tevo_pos_records_created_total` metric.
    """

    tevo_order_id: int | None
    note: str
    state: str | None = None
    created: tuple[Record, ...] = ()
    # What to do once the transaction committed, never before (e.g. cache a customer id):
    # a message rolled back leaves no trace in the process either.
    after_commit: tuple[Callable[[], None], ...] = ()


# A pooled or a plain connection; named here so handlers import one module.
if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:
    Connection = asyncpg.Connection
Handler = Callable[[Inbound, Connection, Deps], Awaitable[Applied | None]]
# A consumer's set-based handler: the new messages of a batch (in lock order) applied together,
# one `Applied` each; it raises when the batch must go message by message (see
# `processor.runtime.set_based`).
BatchHandler = Callable[[Connection, Deps, Sequence[Inbound]], Awaitable[list[Applied]]]
# The key of what a handler locks first (the TEvo order id, for most): a batch applies its
# messages in this key's order, so two batches never take two orders' locks the other way round.
LockKey = Callable[[Inbound], int]


def order_id(inbound: Inbound) -> int:
    """The id of the order a message's body is: what the sales and purchase handlers lock."""
    return inbound.order().id


@dataclass(frozen=True)
class Consumer:
    """A named consumer: its queue is `<ns>.<name>`, bound to `routing_keys`."""

    name: str
    routing_keys: tuple[str, ...]
    handle: Handler
    lock_key: LockKey = order_id
    batch: BatchHandler | None = None  # None: a batch runs `handle` message by message


def decoded(delivery: AbstractIncomingMessage) -> Inbound | None:
    """The delivery as an `Inbound`, or None when its headers break the contract."""
    try:
        return decode(delivery)
    except ContractViolation:
        return None  # the dispatcher dead-letters it, saying why


def lock_order(consumer: Consumer, inbound: Inbound) -> tuple[int, str]:
    """Where a message goes in its batch: by what its handler locks, then by its id (so the
    inbox rows, too, are always written in one order); -1 when its body has no such key (the
    handler rejects it)."""
    try:
        return consumer.lock_key(inbound), inbound.message_id
    except ContractViolation:
        return -1, inbound.message_id
