"""The dispatcher's side of a failure: republish, wait for the confirm, then ack; never the
other way round. Fakes stand in for the broker channel, the delivery and the database pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from aiormq.exceptions import ChannelInvalidStateError

from contracts import envelope as h
from contracts.topology import Topology
from processor.errors import ContractViolation
from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.metrics import ProcessorMetrics
from processor.runtime.dispatch import Dispatcher, Outcome
from processor.settings import ProcessorSettings

HEADERS = {"recipient": "seller", "event_type": "order_created", "order_group_id": 4606857}


class Recorder:
    def __init__(self, publish_error: BaseException | None = None) -> None:
        self.events: list[str] = []
        self.published: list[tuple[str, aio_pika.Message]] = []
        self.publish_error = publish_error


class FakeExchange:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def publish(self, message: aio_pika.Message, routing_key: str, **_: Any) -> None:
        if self.recorder.publish_error is not None:
            raise self.recorder.publish_error
        self.recorder.events.append(f"publish {routing_key}")
        self.recorder.published.append((routing_key, message))


class FakeChannel:
    def __init__(self, recorder: Recorder) -> None:
        self.default_exchange = FakeExchange(recorder)


class FakeDelivery:
    def __init__(self, recorder: Recorder, headers: dict[str, Any]) -> None:
        self.recorder = recorder
        self.headers = headers
        self.body = b'{"id": 10324712}'
        self.message_id = "m-1"
        self.routing_key = "seller.order_created"
        self.content_type = "application/json"
        self.timestamp = None
        self.app_id = "ingress"
        self.delivery_tag = None

    async def ack(self, multiple: bool = False) -> None:
        self.recorder.events.append("ack and before" if multiple else "ack")

    async def nack(self, requeue: bool = True) -> None:
        self.recorder.events.append(f"nack requeue={requeue}")


class FakeConnection:
    """Enough of a connection for the dispatcher: the inbox has none of the messages."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield

    async def fetch(self, _sql: str, _consumer: str, ids: list[str]) -> list[tuple[str]]:
        return [(m,) for m in ids]  # the claim of each message's inbox row: all new

    async def fetchval(self, *_: object) -> int:
        return 1  # the outage probe's "SELECT 1"

    async def execute(self, *_: object) -> str:
        return "INSERT 0 1"


class FakePool:
    """Refuses its first `times` connections with `refuse` (every one when `times` is None)."""

    def __init__(self, refuse: BaseException | None = None, times: int | None = None) -> None:
        self.refuse, self.times = refuse, times
        self.acquired = 0

    async def expire_connections(self) -> None:
        """The probe's clean-up after an outage: nothing to replace here."""

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConnection]:
        self.acquired += 1
        if self.refuse is not None and (self.times is None or self.acquired <= self.times):
            raise self.refuse
        yield FakeConnection()


async def _broken_contract(_inbound: Inbound, _conn: Connection, _deps: Deps) -> Applied:
    raise ContractViolation("body is not an order: id: Field required")


CONSUMER = Consumer("seller.order_created", ("seller.order_created",), _broken_contract)


def _dispatcher(recorder: Recorder, pool: FakePool) -> Dispatcher:
    settings = ProcessorSettings(namespace="ns", retry_delays=(1, 2), retry_max_attempts=3)
    return Dispatcher(
        cast(asyncpg.Pool, pool),
        cast(AbstractChannel, FakeChannel(recorder)),
        Topology("ns"),
        Deps(settings),
        ProcessorMetrics(),
    )


async def _handle(recorder: Recorder, pool: FakePool, headers: dict[str, Any]) -> Outcome:
    delivery = cast(AbstractIncomingMessage, FakeDelivery(recorder, headers))
    (outcome,) = await _dispatcher(recorder, pool).handle_batch(CONSUMER, [delivery])
    return outcome


async def test_a_database_failure_while_it_answers_goes_to_the_first_delay_queue() -> None:
    recorder = Recorder()
    # the message's connection fails, the probe that follows gets one: not an outage
    pool = FakePool(ConnectionRefusedError(111, "refused"), times=1)
    outcome = await _handle(recorder, pool, HEADERS)
    assert outcome is Outcome.RETRIED
    assert recorder.events == ["publish ns.delay.1s", "ack"]
    ((_, message),) = recorder.published
    assert message.headers is not None
    assert message.headers[h.HEADER_ATTEMPTS] == 1
    assert message.headers["retry_queue"] == "ns.seller.order_created"
    assert message.body == b'{"id": 10324712}'
    assert message.message_id == "m-1"


async def test_the_last_attempt_dead_letters() -> None:
    recorder = Recorder()
    headers = {**HEADERS, h.HEADER_ATTEMPTS: 2}
    outcome = await _handle(recorder, FakePool(TimeoutError(), times=1), headers)
    assert outcome is Outcome.DEAD_LETTERED
    assert recorder.events == ["publish ns.seller.order_created.dead", "ack"]


async def test_a_contract_violation_dead_letters_at_once() -> None:
    recorder = Recorder()
    outcome = await _handle(recorder, FakePool(), HEADERS)
    assert outcome is Outcome.DEAD_LETTERED
    ((queue, message),) = recorder.published
    assert queue == "ns.seller.order_created.dead"
    assert message.headers is not None
    assert message.headers[h.HEADER_DEAD_LETTER_REASON] == "permanent_failure"
    assert message.headers[h.HEADER_ERROR_TYPE] == "ContractViolation"


async def test_headers_that_break_the_contract_dead_letter_at_once() -> None:
    recorder = Recorder()
    outcome = await _handle(recorder, FakePool(), {"recipient": "seller"})
    assert outcome is Outcome.DEAD_LETTERED


@pytest.mark.parametrize(
    "error", [TimeoutError(), ChannelInvalidStateError("closed"), ConnectionResetError()]
)
async def test_no_confirm_means_no_ack_the_broker_redelivers(error: BaseException) -> None:
    recorder = Recorder(publish_error=error)
    pool = FakePool(ConnectionRefusedError(111, "refused"), times=1)
    outcome = await _handle(recorder, pool, HEADERS)
    assert outcome is Outcome.REQUEUED
    assert recorder.events == ["nack requeue=True"]


async def test_a_database_outage_pauses_and_requeues_without_spending_an_attempt() -> None:
    recorder, pool = Recorder(), FakePool(ConnectionRefusedError(111, "refused"))
    dispatcher = _dispatcher(recorder, pool)
    delivery = cast(AbstractIncomingMessage, FakeDelivery(recorder, HEADERS))
    assert await dispatcher.handle_batch(CONSUMER, [delivery]) == [Outcome.PAUSED]
    assert recorder.events == ["nack requeue=True"]  # back to the queue, no copy, no attempt
    assert dispatcher.pause.reason == "database unavailable"
    assert dispatcher.pause.tripped.is_set()
    tried = pool.acquired
    # while paused, a delivery goes straight back without touching the database
    assert await dispatcher.handle_batch(CONSUMER, [delivery]) == [Outcome.PAUSED]
    assert pool.acquired == tried
    assert recorder.events == ["nack requeue=True", "nack requeue=True"]


async def test_a_connection_cut_mid_operation_pauses_and_never_escapes_the_dispatcher() -> None:
    """asyncpg's "cannot switch to state" on a pooled connection the server cut: the probe
    meets it too, and reads it as the database being unreachable, not as a crash."""
    cut = asyncpg.InternalClientError("cannot switch to state 11; another operation is in progress")
    recorder, pool = Recorder(), FakePool(cut)
    dispatcher = _dispatcher(recorder, pool)
    delivery = cast(AbstractIncomingMessage, FakeDelivery(recorder, HEADERS))
    assert await dispatcher.handle_batch(CONSUMER, [delivery]) == [Outcome.PAUSED]
    assert recorder.events == ["nack requeue=True"]
    assert dispatcher.pause.reason == "database unavailable"


class UnmigratedConnection(FakeConnection):
    """A database where `migrate` has not run: no `pos.schema_migrations`."""

    async def fetchval(self, *_: object) -> int:
        raise asyncpg.UndefinedTableError('relation "pos.schema_migrations" does not exist')


class UnmigratedPool(FakePool):
    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConnection]:
        self.acquired += 1
        yield UnmigratedConnection()


async def _missing_column(_inbound: Inbound, _conn: Connection, _deps: Deps) -> Applied:
    raise asyncpg.UndefinedColumnError('column "email_key" does not exist')


async def test_a_missing_table_or_column_pauses_and_is_never_the_messages_fault() -> None:
    recorder = Recorder()
    dispatcher = _dispatcher(recorder, UnmigratedPool())
    consumer = Consumer("seller.order_created", ("seller.order_created",), _missing_column)
    delivery = cast(AbstractIncomingMessage, FakeDelivery(recorder, HEADERS))
    assert await dispatcher.handle_batch(consumer, [delivery]) == [Outcome.PAUSED]
    assert recorder.events == ["nack requeue=True"]  # no retry copy, no dead letter
    assert recorder.published == []
    assert dispatcher.pause.reason == "schema not migrated"
