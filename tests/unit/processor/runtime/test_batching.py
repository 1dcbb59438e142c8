"""How deliveries become batches: at once when full, after the linger when not, never more
batches of one consumer at a time than allowed, and a drain that finishes what is in hand."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import cast

from aio_pika.abc import AbstractIncomingMessage

from contracts.topology import Topology
from processor.handler import Applied, Connection, Consumer, Deps, Inbound
from processor.metrics import ProcessorMetrics
from processor.runtime.acks import Acks
from processor.runtime.batching import Batcher
from processor.runtime.dispatch import Dispatcher


async def _never(_inbound: Inbound, _conn: Connection, _deps: Deps) -> Applied:
    raise AssertionError("the fake dispatcher never calls handlers")


CONSUMER = Consumer("seller.order_created", ("seller.order_created",), _never)


class FakeDispatcher:
    """Records each batch; a batch finishes when `release` is set (at once by default)."""

    topology = Topology("test")  # the batcher names its queue from it

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    def received(self, delivery: AbstractIncomingMessage) -> None:
        pass  # the batcher tells the dispatcher of each delivery; these are integers

    async def handle_batch(
        self, consumer: Consumer, deliveries: Sequence[AbstractIncomingMessage]
    ) -> list[str]:
        assert consumer is CONSUMER
        self.batches.append([cast(int, d) for d in deliveries])
        self.started.set()
        await self.release.wait()
        return ["applied"] * len(deliveries)


def _batcher(
    dispatcher: FakeDispatcher, *, size: int = 3, linger: float = 10.0, concurrency: int = 2
) -> Batcher:
    return Batcher(
        cast(Dispatcher, dispatcher),
        CONSUMER,
        size=size,
        linger=linger,
        concurrency=concurrency,
    )


async def _deliver(batcher: Batcher, *items: int) -> None:
    for item in items:
        await batcher.on_message(cast(AbstractIncomingMessage, item))


async def test_a_full_batch_starts_at_once_without_lingering() -> None:
    dispatcher = FakeDispatcher()
    dispatcher.release.clear()
    batcher = _batcher(dispatcher, size=3, linger=10.0)
    await _deliver(batcher, 1, 2, 3, 4)
    await asyncio.wait_for(dispatcher.started.wait(), timeout=1)
    assert dispatcher.batches == [[1, 2, 3]]
    assert batcher.in_hand == 4  # three in the running batch, one lingering
    dispatcher.release.set()
    await batcher.drain(grace=1)


async def test_a_lone_message_goes_after_the_linger() -> None:
    dispatcher = FakeDispatcher()
    batcher = _batcher(dispatcher, size=32, linger=0.02)
    await _deliver(batcher, 1)
    assert dispatcher.batches == []
    await asyncio.wait_for(dispatcher.started.wait(), timeout=1)
    assert dispatcher.batches == [[1]]


async def test_no_more_batches_at_once_than_allowed_and_the_rest_wait_together() -> None:
    dispatcher = FakeDispatcher()
    dispatcher.release.clear()
    batcher = _batcher(dispatcher, size=2, linger=0.0, concurrency=1)
    await _deliver(batcher, 1)
    await asyncio.wait_for(dispatcher.started.wait(), timeout=1)
    await _deliver(batcher, 2, 3)  # a batch is running: these wait although due
    await asyncio.sleep(0.01)
    assert dispatcher.batches == [[1]]
    dispatcher.release.set()
    await asyncio.wait_for(batcher.drain(grace=1), timeout=2)
    assert dispatcher.batches == [[1], [2, 3]]


async def test_drain_hands_on_what_lingers_and_waits_for_it() -> None:
    dispatcher = FakeDispatcher()
    batcher = _batcher(dispatcher, size=32, linger=10.0)
    await _deliver(batcher, 1, 2)
    assert await batcher.drain(grace=1) == 0
    assert dispatcher.batches == [[1, 2]]
    assert batcher.in_hand == 0


async def test_drain_cancels_a_batch_that_outlasts_the_grace() -> None:
    dispatcher = FakeDispatcher()
    dispatcher.release.clear()  # never finishes
    batcher = _batcher(dispatcher, size=1, linger=0.0)
    await _deliver(batcher, 1)
    await asyncio.wait_for(dispatcher.started.wait(), timeout=1)
    assert await batcher.drain(grace=0.05) == 1
    assert batcher.in_hand == 0


class CrashingDispatcher:
    """A dispatcher whose batch raises past its own error handling: a bug."""

    def __init__(self) -> None:
        self.acks, self.metrics = Acks(), ProcessorMetrics()
        self.crashed = asyncio.Event()

    def received(self, delivery: AbstractIncomingMessage) -> None:
        self.acks.received(delivery)

    async def handle_batch(
        self, _consumer: Consumer, _deliveries: Sequence[AbstractIncomingMessage]
    ) -> list[str]:
        self.crashed.set()
        raise RuntimeError("cannot switch to state 11")


class Tagged:
    def __init__(self, tag: int, nacked: asyncio.Queue[int]) -> None:
        self.delivery_tag, self.nacked = tag, nacked

    async def nack(self, requeue: bool = True) -> None:
        assert requeue
        await self.nacked.put(self.delivery_tag)


async def test_a_batch_that_crashes_gives_its_deliveries_back_at_once_and_is_counted() -> None:
    dispatcher, nacked = CrashingDispatcher(), asyncio.Queue[int]()
    batcher = Batcher(cast(Dispatcher, dispatcher), CONSUMER, size=2, linger=10.0, concurrency=1)
    for tag in (1, 2):
        await batcher.on_message(cast(AbstractIncomingMessage, Tagged(tag, nacked)))
    got = [await asyncio.wait_for(nacked.get(), timeout=5) for _ in range(2)]
    assert got == [1, 2]
    assert dispatcher.acks.oldest_age() == 0.0  # nothing of it is held any more
    crashes = dispatcher.metrics.registry.get_sample_value(
        "tevo_processor_batch_crashes_total", {"consumer": CONSUMER.name}
    )
    assert crashes == 1.0
