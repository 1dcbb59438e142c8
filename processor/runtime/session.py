"""One broker session: connect, declare, consume until a stop, a lost connection or a pause.

Two connections, as RabbitMQ advises: one consumes and acks, the other publishes the copies of
failed messages (retries, dead letters). An alarm blocks only the publishing one, so committed
work is still acked and deliveries keep coming. Either connection, or the consuming channel,
closing ends the session with `BrokerLost`; the supervisor (`processor.app`) starts another.

Ending: stop taking work (cancel the consumers), let the messages in hand finish within the
shutdown timeout, cancel what is left (unacked, so the broker redelivers it), close both
connections. The pool and the TEvo client outlive sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass

import asyncpg
import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from processor.broker import connect_once
from processor.handler import Consumer, Deps
from processor.metrics import ProcessorMetrics
from processor.notify import Tell
from processor.runtime.batching import Batcher
from processor.runtime.dispatch import Dispatcher
from processor.runtime.health import Health
from processor.runtime.pause import Pause
from processor.runtime.republish import Publisher
from processor.runtime.topology import declare
from processor.settings import ProcessorSettings

log = structlog.get_logger(__name__)


async def connect_plain(settings: ProcessorSettings, role: str) -> AbstractConnection:
    """A connection that stays closed once lost: the supervisor, not the library, reconnects,
    so that redeclaring and consuming again happen in one place, in order. It goes to the first
    node of `TEVO_AMQP_URL` that answers: after a node's death the next session finds another."""
    return await connect_once(settings, role, announce=True)


class BrokerLost(ConnectionError):
    """A connection or the consuming channel closed under the session."""


@dataclass
class Session:
    settings: ProcessorSettings
    consumers: Sequence[Consumer]
    pool: asyncpg.Pool
    deps: Deps
    metrics: ProcessorMetrics
    consumed: bool = False  # the last session got as far as consuming
    notify: Tell | None = None  # told of each dead letter (TEVO_NOTIFY_URL)

    async def run(
        self, pause: Pause, health: Health, stop: asyncio.Event, started: asyncio.Event | None
    ) -> None:
        """Consume until `stop` or a pause (then return), or until the broker is lost (raise)."""
        self.consumed = False
        lost = asyncio.Event()
        async with AsyncExitStack() as stack:
            channel, publisher = await self._connect(stack, health, lost)
            topology = self.settings.topology
            queues = await declare(channel, topology, self.consumers, self.settings.retry_delays)
            dispatcher = Dispatcher(
                self.pool, publisher.channel, topology, self.deps, self.metrics, pause, publisher
            )
            dispatcher.notify = self.notify
            self._watch_held(dispatcher, health, stack)
            batchers = [self._batcher(dispatcher, consumer) for consumer in self.consumers]
            host = f"{socket.gethostname()}:{os.getpid()}"
            tags = []
            for consumer, batcher in zip(self.consumers, batchers, strict=True):
                queue, tag = queues[consumer.name], f"{consumer.name}@{host}"
                tags.append((queue, await queue.consume(batcher.on_message, consumer_tag=tag)))
            self.consumed = True
            log.info("processor.started", consumers=len(tags), namespace=topology.namespace)
            if started is not None:
                started.set()
            await _first_of(stop.wait(), lost.wait(), pause.tripped.wait())
            why = "stop" if stop.is_set() else "paused" if pause.active else "broker lost"
            log.info("processor.stopping", reason=why)
            for queue, tag in tags:
                with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                    await queue.cancel(tag)
            await _drain(batchers, self.settings.shutdown_timeout)
        if lost.is_set() and not stop.is_set() and not pause.active:
            raise BrokerLost("a broker connection closed")

    async def _connect(
        self, stack: AsyncExitStack, health: Health, lost: asyncio.Event
    ) -> tuple[AbstractChannel, Publisher]:
        """Both connections, the consuming channel (with its prefetch) and the publisher; any of
        them closing sets `lost`."""
        health.broker_tried = True
        consuming = await connect_plain(self.settings, "processor")
        stack.push_async_callback(_close, consuming)
        publishing = await connect_plain(self.settings, "processor-publisher")
        stack.push_async_callback(_close, publishing)
        health.broker, health.publisher = consuming, publishing
        channel = await consuming.channel()
        await channel.set_qos(prefetch_count=self.settings.prefetch)
        # on_return_raises: an unroutable copy fails (and requeues), never passes as confirmed
        out = await publishing.channel(publisher_confirms=True, on_return_raises=True)
        for closable in (consuming, publishing, channel, out):
            closable.close_callbacks.add(lambda *_: lost.set())
        log.info("processor.connected")
        return channel, Publisher(publishing, out)

    def _watch_held(self, dispatcher: Dispatcher, health: Health, stack: AsyncExitStack) -> None:
        """The age of this session's oldest unsettled delivery, to readiness and the metric."""
        gauge, oldest = self.metrics.oldest_unsettled_seconds, dispatcher.acks.oldest_age
        health.held = oldest
        gauge.set_function(oldest)

        def forget() -> None:  # the session's channel is gone: what it held is redelivered
            health.held = None
            gauge.set_function(lambda: 0.0)

        stack.callback(forget)

    def _batcher(self, dispatcher: Dispatcher, consumer: Consumer) -> Batcher:
        return Batcher(
            dispatcher,
            consumer,
            size=self.settings.batch_size,
            linger=self.settings.batch_linger,
            concurrency=self.settings.batch_concurrency,
        )


async def _first_of(*waits: Awaitable[object]) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def _close(connection: AbstractConnection) -> None:
    with contextlib.suppress(*CONNECTION_EXCEPTIONS):
        await connection.close()


async def _drain(batchers: Sequence[Batcher], grace: float) -> None:
    """Let every consumer finish the messages in hand within `grace` seconds, all at once."""
    in_hand = sum(batcher.in_hand for batcher in batchers)
    if not in_hand:
        return
    log.info("processor.draining", in_flight=in_hand, grace_s=grace)
    abandoned = await asyncio.gather(*(batcher.drain(grace) for batcher in batchers))
    if sum(abandoned):
        log.warning("processor.drain_timeout", abandoned=sum(abandoned))
