"""Gather each consumer's deliveries into batches for the dispatcher, and drain them on stop.

A batch is what one consumer has been delivered and not yet started: up to `batch_size`
deliveries, sent to `Dispatcher.handle_batch` once it is full or its oldest delivery has waited
`batch_linger` seconds, with at most `batch_concurrency` batches of the consumer running at once.
A quiet queue's message waits the linger at most; under load the batches fill by themselves
while earlier ones run. Nothing here acks: a delivery not yet handed on is simply unacked, and
the broker gives it to another processor if this one goes away.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

import structlog
from aio_pika.abc import AbstractIncomingMessage

from processor.handler import Consumer
from processor.runtime.dispatch import Dispatcher
from processor.runtime.tracing import batch_span

log = structlog.get_logger(__name__)


class Batcher:
    """One consumer's deliveries on their way to the dispatcher, and the batches running now."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        consumer: Consumer,
        *,
        size: int,
        linger: float,
        concurrency: int,
    ) -> None:
        self.dispatcher, self.consumer = dispatcher, consumer
        self.size, self.linger, self.concurrency = size, linger, concurrency
        self._waiting: deque[tuple[float, AbstractIncomingMessage]] = deque()
        self._running: dict[asyncio.Task[object], list[AbstractIncomingMessage]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._draining = False
        self._releasing: set[asyncio.Task[int]] = set()  # a crashed batch's nacks, under way

    @property
    def in_hand(self) -> int:
        """Deliveries waiting or in a running batch."""
        return len(self._waiting) + sum(len(batch) for batch in self._running.values())

    async def on_message(self, delivery: AbstractIncomingMessage) -> None:
        """aio-pika's callback: queue the delivery; a batch starts when one is due."""
        self.dispatcher.received(delivery)
        self._waiting.append((asyncio.get_running_loop().time(), delivery))
        self._start_due()

    def _start_due(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting and len(self._running) < self.concurrency:
            oldest = self._waiting[0][0]
            full = len(self._waiting) >= self.size
            if not (full or self._draining or loop.time() - oldest >= self.linger):
                if self._timer is None:
                    self._timer = loop.call_at(oldest + self.linger, self._on_timer)
                return
            count = min(self.size, len(self._waiting))
            batch = [self._waiting.popleft()[1] for _ in range(count)]
            task: asyncio.Task[object] = asyncio.create_task(self._run(batch))
            self._running[task] = batch
            task.add_done_callback(self._finished)

    def _on_timer(self) -> None:
        self._timer = None
        self._start_due()

    def _finished(self, task: asyncio.Task[object]) -> None:
        batch = self._running.pop(task, [])
        if not task.cancelled() and task.exception() is not None:
            # The dispatcher maps every failure to an outcome: this is a bug (or an error no rule
            # foresaw). Its deliveries go back to the queue now, not when the channel closes:
            # until then they would be held, unapplied, while the processor looks healthy.
            log.error("batch.crashed", consumer=self.consumer.name, exc_info=task.exception())
            self.dispatcher.metrics.batch_crashes.labels(self.consumer.name).inc()
            release = asyncio.create_task(self.dispatcher.acks.release(batch))
            self._releasing.add(release)
            release.add_done_callback(self._releasing.discard)
        self._start_due()

    def _queue(self) -> str:
        return self.dispatcher.topology.consumer_queue(self.consumer.name)

    async def _run(self, batch: Sequence[AbstractIncomingMessage]) -> object:
        with batch_span(self._queue, batch):  # a no-op while tracing is off (no queue named)
            return await self.dispatcher.handle_batch(self.consumer, batch)

    async def drain(self, grace: float) -> int:
        """Finish what is in hand within `grace` seconds (no more lingering), then cancel the
        rest, unacked, for the broker to redeliver; how many batches were abandoned."""
        self._draining = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._start_due()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._running and loop.time() < deadline:
            await asyncio.wait(set(self._running), timeout=deadline - loop.time())
        still = set(self._running)
        for task in still:
            task.cancel()
        if still:
            await asyncio.wait(still)
        self._waiting.clear()
        return len(still)
