"""Run the consumers: connect, declare, consume, and on a stop signal drain before closing.

Shutdown order: stop taking work (cancel the consumers), let in-flight messages finish within
`shutdown_timeout`, then cancel what is left (unacked, so the broker redelivers it) and close the
connection and the pool in reverse order of opening.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from typing import TypeVar

import aio_pika
import asyncpg
import structlog
from aio_pika.abc import AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from processor.deps import Deps
from processor.metrics import ProcessorMetrics
from processor.ops.health import Health
from processor.runtime.batching import Batcher
from processor.runtime.dispatch import Dispatcher
from processor.runtime.message import Consumer
from processor.runtime.topology import declare
from processor.settings import ProcessorSettings
from processor.tevo.api import open_api

log = structlog.get_logger("processor")

CONNECT_RETRY_DELAY = 2.0
# Seconds between reconnection attempts of a robust connection after the broker went away.
RECONNECT_INTERVAL = 2.0
T = TypeVar("T")


async def connect_broker(
    settings: ProcessorSettings, role: str = "processor"
) -> AbstractRobustConnection:
    """A robust connection named `<role>@<host>:<pid>` in the console, one process each."""
    return await aio_pika.connect_robust(
        settings.amqp_url,
        client_properties={"connection_name": f"{role}@{socket.gethostname()}:{os.getpid()}"},
        reconnect_interval=RECONNECT_INTERVAL,
    )


class StoppedBeforeStart(Exception):
    """A stop signal came while the processor was still waiting for its broker or database."""


async def _until_connected(
    what: str, connect: Callable[[], Awaitable[T]], stop: asyncio.Event
) -> T:
    """Retry `connect` until it works: a processor started before its broker or database waits,
    and a SIGTERM meanwhile ends the wait instead of being ignored until the SIGKILL."""
    while not stop.is_set():
        try:
            return await connect()
        except (*CONNECTION_EXCEPTIONS, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning(
                "connect.failed",
                target=what,
                error=type(exc).__name__,
                retry_in=CONNECT_RETRY_DELAY,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), CONNECT_RETRY_DELAY)
    raise StoppedBeforeStart(what)


async def run(
    settings: ProcessorSettings,
    consumers: Sequence[Consumer],
    stop: asyncio.Event,
    metrics: ProcessorMetrics | None = None,
    started: asyncio.Event | None = None,
    *,
    health: Health | None = None,
) -> None:
    """Consume until `stop` is set, then drain and close; `started` is set once consuming.

    `health`, when given, is told of the pool and the connection as each comes up (readiness).
    """
    health = health or Health()
    topology = settings.topology
    async with AsyncExitStack() as stack:
        pool = await _until_connected(
            "database",
            lambda: asyncpg.create_pool(
                settings.database_url, min_size=1, max_size=settings.db_pool_size
            ),
            stop,
        )
        stack.push_async_callback(pool.close)
        health.pool = pool
        connection = await _until_connected("broker", lambda: connect_broker(settings), stop)
        stack.push_async_callback(connection.close)
        health.broker = connection
        # on_return_raises: an unroutable republish fails (and requeues), never passes as confirmed
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await channel.set_qos(prefetch_count=settings.prefetch)
        queues = await declare(channel, topology, consumers, settings.retry_delays)
        tevo_api = await open_api(stack, settings)  # None: no credentials, verification off
        if tevo_api is None:  # webhooks are unsigned: without the API a forged one is invoiced
            log.warning("verification.off", hint="set TEVO_API_TOKEN and TEVO_API_SECRET")
        else:
            log.info("verification.configured", enabled=True)
        deps = Deps(settings, tevo_api=tevo_api)
        dispatcher = Dispatcher(pool, channel, topology, deps, metrics or ProcessorMetrics())
        host = f"{socket.gethostname()}:{os.getpid()}"
        tags, batchers = [], []
        for consumer in consumers:
            queue = queues[consumer.name]
            batcher = Batcher(
                dispatcher,
                consumer,
                size=settings.batch_size,
                linger=settings.batch_linger,
                concurrency=settings.batch_concurrency,
            )
            tag = await queue.consume(batcher.on_message, consumer_tag=f"{consumer.name}@{host}")
            tags.append((queue, tag))
            batchers.append(batcher)
        log.info("processor.started", consumers=len(consumers), namespace=settings.namespace)
        if started is not None:
            started.set()
        await stop.wait()
        log.info("processor.stopping")
        for queue, tag in tags:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await queue.cancel(tag)
        await _drain(batchers, settings.shutdown_timeout)
    log.info("processor.stopped")


async def _drain(batchers: Sequence[Batcher], grace: float) -> None:
    """Let every consumer finish the messages in hand within `grace` seconds, all at once."""
    in_hand = sum(batcher.in_hand for batcher in batchers)
    if not in_hand:
        return
    log.info("processor.draining", in_flight=in_hand, grace_s=grace)
    abandoned = await asyncio.gather(*(batcher.drain(grace) for batcher in batchers))
    if sum(abandoned):
        log.warning("processor.drain_timeout", abandoned=sum(abandoned))
