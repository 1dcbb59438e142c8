"""The handler contract: what a consumer's handler is given and what it gives back.

A handler is a plain async function of (message, transaction connection, dependencies). It never
acks, connects or commits: `processor.runtime.dispatch` owns all three. This module is on the
ground floor: the POS (`processor.pos`) and the consumers import it, never the runtime.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Any, Protocol

import asyncpg
from asyncpg.transaction import Transaction

from contracts import BodyError, Order, OrderItem, parse_order, parse_order_item
from processor.errors import ContractViolation, ProcessingError
from processor.settings import ProcessorSettings


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


class Connection(Protocol):
    """What the POS calls on its transaction's connection (a pooled or a plain asyncpg one)."""

    async def execute(self, query: str, *args: object) -> str: ...

    async def executemany(self, command: str, args: Iterable[Sequence[object]]) -> None: ...

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]: ...

    async def fetchrow(self, query: str, *args: object) -> asyncpg.Record | None: ...

    async def fetchval(self, query: str, *args: object) -> Any: ...

    def transaction(self) -> Transaction: ...


class OrdersApi(Protocol):
    """What verification needs of TEvo's API (`processor.tevo.api.TevoApi`); tests give a fake."""

    async def get_order(self, order_id: int) -> dict[str, Any] | None: ...


class OfficeCustomers:
    """Office id -> POS customer id, for customers whose row is committed.

    Filled only through `Applied.after_commit`, so an id whose insert was rolled back is never
    served. Customers are never deleted, so an entry stays true; the map is bounded all the same.
    """

    LIMIT = 10_000

    def __init__(self) -> None:
        self._ids: dict[int, int] = {}

    def get(self, office_id: int) -> int | None:
        return self._ids.get(office_id)

    def remember(self, office_id: int, customer_id: int) -> None:
        if len(self._ids) >= self.LIMIT:
            self._ids.clear()
        self._ids[office_id] = customer_id


@dataclass(frozen=True)
class Deps:
    """Everything a handler may use besides its transaction. Built once by `processor.app`;
    `answered` gives a copy that carries TEvo's answers for some orders."""

    settings: ProcessorSettings
    # TEvo's API, to check a webhook before acting on it; None: verification is off.
    tevo_api: OrdersApi | None = None
    # Office customer ids known to be committed, so a sale to TEvo (office 6) needs no lookup.
    offices: OfficeCustomers = field(default_factory=OfficeCustomers)
    # TEvo's answers (None: no such order) by order id, fetched before the transaction began: a
    # call to TEvo inside a transaction would hold a pool connection and the order's lock as
    # long as TEvo takes to answer. Empty: a handler needing one raises `NeedsVerification`.
    answers: Mapping[int, dict[str, Any] | None] = field(default_factory=dict)

    async def answered(self, order_ids: Iterable[int]) -> tuple[Deps, dict[int, ProcessingError]]:
        """These deps with TEvo's answer for each order, and the error of each order TEvo could
        not answer for (e.g. TEvo down). Called outside any transaction."""
        found: dict[int, dict[str, Any] | None] = {}
        failed: dict[int, ProcessingError] = {}
        api = self.tevo_api
        if api is None:  # verification is off: nothing is asked, nothing is needed
            return self, failed
        for order_id in sorted(set(order_ids)):
            try:
                found[order_id] = await api.get_order(order_id)
            except ProcessingError as exc:
                failed[order_id] = exc
        return self.knowing(found), failed

    def knowing(self, found: Mapping[int, dict[str, Any] | None]) -> Deps:
        """These deps with TEvo's answers `found` (by order id) at hand."""
        return dataclasses.replace(self, answers={**self.answers, **found})


Handler = Callable[[Inbound, Connection, Deps], Awaitable[Applied | None]]
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
