"""The dispatcher's batches: one commit, a savepoint per message, acks only after the commit; a
message that fails alone is retried or dead-lettered alone; a batch that fails as a whole is
applied again one message at a time. Fakes stand in for the broker, the deliveries and Postgres."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from processor.errors import ContractViolation
from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.metrics import ProcessorMetrics
from processor.runtime.dispatch import Dispatcher, Outcome
from processor.settings import ProcessorSettings

HEADERS = {"recipient": "seller", "event_type": "order_created", "order_group_id": 4606857}


class World:
    """Everything the fakes did, in order, and what they are told to do wrong."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.inbox: set[str] = set()
        self.fail: dict[int, Callable[[], Exception]] = {}  # order id -> error its handler raises
        self.commit_error: Exception | None = None


class FakeExchange:
    def __init__(self, world: World) -> None:
        self.world = world

    async def publish(self, message: aio_pika.Message, routing_key: str, **_: Any) -> None:
        self.world.events.append(f"publish {message.message_id} {routing_key}")


class FakeChannel:
    def __init__(self, world: World) -> None:
        self.default_exchange = FakeExchange(world)


class FakeDelivery:
    def __init__(self, world: World, order_id: int, headers: dict[str, Any] | None = None) -> None:
        self.world = world
        self.headers = dict(HEADERS if headers is None else headers)
        self.body = json.dumps({"id": order_id}).encode()
        self.message_id = f"m{order_id}"
        self.routing_key = "seller.order_created"
        self.content_type = "application/json"
        self.timestamp = None
        self.app_id = "ingress"
        self.delivery_tag: int | None = None  # set: the dispatcher was told of the delivery

    async def ack(self, multiple: bool = False) -> None:
        self.world.events.append(f"ack {self.message_id}" + (" and before" if multiple else ""))

    async def nack(self, requeue: bool = True) -> None:
        self.world.events.append(f"nack {self.message_id} requeue={requeue}")


class FakeConnection:
    """One transaction and the savepoints a batch takes in it; the inbox is a set, rolled back
    with them."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.in_transaction = False
        self.pending: list[set[str]] = []  # inbox rows written since each savepoint, uncommitted

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        assert not self.in_transaction, "batches use savepoints, not nested transactions"
        self.world.events.append("begin")
        self.in_transaction = True
        self.pending = [set()]
        try:
            yield
            self._commit_or_raise()
        except BaseException:
            self.world.events.append("rollback")
            raise
        finally:
            self.in_transaction = False
        self.world.inbox |= set().union(*self.pending)
        self.world.events.append("commit")

    def _commit_or_raise(self) -> None:
        error, self.world.commit_error = self.world.commit_error, None
        if error is not None:
            raise error

    async def execute(self, sql: str, *args: object) -> str:
        if sql == "SAVEPOINT message":
            self.pending.append(set())
        elif sql == "RELEASE SAVEPOINT message; SAVEPOINT message":
            released = self.pending.pop()
            self.pending[-1] |= released
            self.pending.append(set())
        elif sql == "ROLLBACK TO SAVEPOINT message":
            self.pending[-1] = set()
        elif "order_history" in sql:
            return self._conclude(cast(list[str], args[1]), cast(list[str], args[6]))
        else:
            raise AssertionError(f"unexpected statement {sql}")
        self.world.events.append(sql.lower())
        return sql.split(maxsplit=1)[0]

    async def fetch(self, _sql: str, _consumer: str, ids: list[str]) -> list[tuple[str]]:
        """The batch's claim of its inbox rows, before any savepoint: the ids that are new."""
        self.world.events.append("claim")
        new = [m for m in dict.fromkeys(ids) if m not in self.world.inbox]
        self.pending[0] |= set(new)
        return [(m,) for m in new]

    def _conclude(self, withdrawn: list[str], history: list[str]) -> str:
        """The claims of the failed messages withdrawn, the history of the applied written."""
        self.world.events.append(f"conclude -{','.join(withdrawn)} +{','.join(history)}")
        for rows in self.pending:
            rows -= set(withdrawn)
        return f"INSERT 0 {len(history)}"


class FakePool:
    def __init__(self, world: World) -> None:
        self.world = world

    async def expire_connections(self) -> None:
        """The probe's clean-up after an outage: nothing to replace here."""

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConnection]:
        yield FakeConnection(self.world)


def _consumer(world: World, lock_key: Callable[[Inbound], int] | None = None) -> Consumer:
    async def handle(inbound: Inbound, _conn: Connection, _deps: Deps) -> Applied:
        order = inbound.order()
        world.events.append(f"handle m{order.id}")
        if order.id in world.fail:
            raise world.fail.pop(order.id)()
        return Applied(order.id, "applied")

    if lock_key is None:
        return Consumer("seller.order_created", ("seller.order_created",), handle)
    return Consumer("seller.order_created", ("seller.order_created",), handle, lock_key)


async def _run(
    world: World,
    deliveries: list[FakeDelivery],
    consumer: Consumer | None = None,
    *,
    received: bool = False,
) -> list[Outcome]:
    settings = ProcessorSettings(namespace="ns", retry_delays=(1, 2), retry_max_attempts=3)
    dispatcher = Dispatcher(
        cast(asyncpg.Pool, FakePool(world)),
        cast(AbstractChannel, FakeChannel(world)),
        settings.topology,
        Deps(settings),
        ProcessorMetrics(),
    )
    batch = cast(list[AbstractIncomingMessage], deliveries)
    if received:  # as the batcher does, in the order the broker delivered them
        for tag, delivery in enumerate(batch, start=1):
            cast(FakeDelivery, delivery).delivery_tag = tag
            dispatcher.received(delivery)
    return await dispatcher.handle_batch(consumer or _consumer(world), batch)


async def test_one_commit_a_savepoint_each_in_order_id_order_and_acks_only_after() -> None:
    world = World()
    outcomes = await _run(world, [FakeDelivery(world, n) for n in (3, 1, 2)])
    assert outcomes == [Outcome.APPLIED] * 3
    assert world.events == [
        *["begin", "claim"],
        *["savepoint message", "handle m1"],
        *["release savepoint message; savepoint message", "handle m2"],
        *["release savepoint message; savepoint message", "handle m3"],
        *["conclude - +m1,m2,m3", "commit"],
        *["ack m1", "ack m2", "ack m3"],
    ]


async def test_deliveries_it_was_told_of_are_acked_with_one_multiple_ack_after_the_commit() -> None:
    world = World()
    await _run(world, [FakeDelivery(world, n) for n in (3, 1, 2)], received=True)
    # applied as m1, m2, m3; delivered as m3, m1, m2: the last delivered, m2, acks them all
    assert world.events[-2:] == ["commit", "ack m2 and before"]


async def test_a_failed_message_is_not_in_the_multiple_ack() -> None:
    world = World()
    world.fail[1] = lambda: ContractViolation("body is not an order")
    await _run(world, [FakeDelivery(world, n) for n in (1, 2, 3)], received=True)
    after = world.events[world.events.index("commit") + 1 :]
    # m1 is the oldest delivery and still unsettled: m2 and m3 are acked one by one; once its
    # copy is confirmed, m1 is the oldest unsettled alone, and its ack covers nothing else
    dead = "publish m1 ns.seller.order_created.dead"
    assert after == ["ack m2", "ack m3", dead, "ack m1 and before"]


async def test_a_batch_is_applied_in_the_order_of_what_its_handler_locks() -> None:
    world = World()
    consumer = _consumer(world, lock_key=lambda inbound: -inbound.order().id)
    await _run(world, [FakeDelivery(world, n) for n in (1, 3, 2)], consumer)
    handled = [event for event in world.events if event.startswith("handle")]
    assert handled == ["handle m3", "handle m2", "handle m1"]


async def test_messages_with_one_lock_key_are_applied_in_message_id_order() -> None:
    world = World()
    consumer = _consumer(world, lock_key=lambda _inbound: 7)
    await _run(world, [FakeDelivery(world, n) for n in (2, 3, 1)], consumer)
    handled = [event for event in world.events if event.startswith("handle")]
    assert handled == ["handle m1", "handle m2", "handle m3"]


async def test_a_failing_message_is_rolled_back_alone_and_dead_lettered_after_the_commit() -> None:
    world = World()
    world.fail[2] = lambda: ContractViolation("body is not an order")
    outcomes = await _run(world, [FakeDelivery(world, n) for n in (1, 2, 3)])
    assert outcomes == [Outcome.APPLIED, Outcome.DEAD_LETTERED, Outcome.APPLIED]
    assert world.inbox == {"m1", "m3"}  # m2's claim was withdrawn with its work
    assert world.events.index("rollback to savepoint message") < world.events.index("commit")
    assert "conclude -m2 +m1,m3" in world.events
    after = world.events[world.events.index("commit") + 1 :]
    # the acks of the committed messages first: a copy may wait on a blocked broker
    assert after == ["ack m1", "ack m3", "publish m2 ns.seller.order_created.dead", "ack m2"]


async def test_a_retryable_message_goes_to_its_delay_queue_and_the_rest_commit() -> None:
    world = World()
    world.fail[1] = lambda: RuntimeError("a bug")  # unforeseen: retried, never a crash
    outcomes = await _run(world, [FakeDelivery(world, n) for n in (1, 2)])
    assert outcomes == [Outcome.RETRIED, Outcome.APPLIED]
    assert world.inbox == {"m2"}
    assert "publish m1 ns.delay.1s" in world.events


async def test_a_duplicate_in_the_inbox_is_acked_without_its_handler() -> None:
    world = World()
    world.inbox.add("m1")
    outcomes = await _run(world, [FakeDelivery(world, n) for n in (1, 2)])
    assert outcomes == [Outcome.DUPLICATE, Outcome.APPLIED]
    assert "handle m1" not in world.events
    assert world.events[-2:] == ["ack m1", "ack m2"]


async def test_a_second_copy_in_the_batch_is_a_duplicate_without_its_handler() -> None:
    world = World()
    outcomes = await _run(world, [FakeDelivery(world, 1), FakeDelivery(world, 1)])
    assert outcomes == [Outcome.APPLIED, Outcome.DUPLICATE]
    assert world.events.count("handle m1") == 1
    assert world.events[-4:] == ["conclude - +m1", "commit", "ack m1", "ack m1"]
    assert world.inbox == {"m1"}


async def test_a_deadlock_fails_the_batch_and_each_message_is_applied_on_its_own() -> None:
    world = World()
    world.fail[2] = lambda: asyncpg.DeadlockDetectedError("deadlock detected")
    outcomes = await _run(world, [FakeDelivery(world, n) for n in (1, 2, 3)])
    assert outcomes == [Outcome.APPLIED] * 3
    first_commit = world.events.index("commit")
    assert world.events.index("rollback") < first_commit  # the batch: nothing committed
    assert not any(e.startswith("ack") for e in world.events[: world.events.index("rollback")])
    assert world.events.count("commit") == 3  # then one transaction each
    assert world.inbox == {"m1", "m2", "m3"}


async def test_a_failed_commit_commits_nothing_and_falls_back_to_one_by_one() -> None:
    world = World()
    world.commit_error = ConnectionResetError("connection lost at commit")
    outcomes = await _run(world, [FakeDelivery(world, n) for n in (1, 2)])
    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED]
    rollback = world.events.index("rollback")
    assert not any(e.startswith("ack") for e in world.events[:rollback])
    alone = ["begin", "claim", "savepoint message"]  # a batch of one
    assert world.events[rollback + 1 :] == [
        *[*alone, "handle m1", "conclude - +m1", "commit", "ack m1"],
        *[*alone, "handle m2", "conclude - +m2", "commit", "ack m2"],
    ]


async def test_a_delivery_with_broken_headers_is_dead_lettered_and_the_rest_applied() -> None:
    world = World()
    broken = FakeDelivery(world, 9, headers={"recipient": "seller"})
    outcomes = await _run(world, [FakeDelivery(world, 1), broken, FakeDelivery(world, 2)])
    assert sorted(outcomes) == sorted([Outcome.APPLIED, Outcome.APPLIED, Outcome.DEAD_LETTERED])
    assert world.inbox == {"m1", "m2"}
    assert world.events[-2:] == ["publish m9 ns.seller.order_created.dead", "ack m9"]
