"""Run the consumers, supervised: whatever the broker or the database does, consume again.

`run` opens the database pool, then runs broker sessions (`processor.runtime.session`) one after
another: a session that loses its broker ends, and the next one reconnects, redeclares and
consumes again after a bounded, growing wait; a session ended by a pause (a dependency down, see
`processor.runtime.pause`) is followed by probes until the dependency answers. Each change of
state is one log line. Before consuming, it waits (not ready) for a schema at the code's
version (`until_migrated`). The process ends only on `stop` (SIGTERM, SIGINT) or a configuration
error (`ConfigurationError`: refused credentials, a missing database, a queue declared with
other arguments), which no retry can fix.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from typing import TypeVar

import asyncpg
import structlog
from aio_pika.exceptions import (
    CONNECTION_EXCEPTIONS,
    ChannelPreconditionFailed,
    ProbableAuthenticationError,
)

from contracts.brokers import node_of
from contracts.settings import postgres_address
from processor.errors import NO_ANSWER
from processor.handler import Consumer, Deps
from processor.metrics import ProcessorMetrics
from processor.notify import notifying
from processor.pos.review_watch import watch
from processor.runtime.background import supervised
from processor.runtime.health import Health
from processor.runtime.pause import Pause
from processor.runtime.schema import behind
from processor.runtime.session import Session
from processor.settings import ProcessorSettings
from processor.tevo.api import open_api

log = structlog.get_logger(__name__)

CONNECT_RETRY_DELAY = 2.0
SCHEMA_POLL = 2.0  # seconds between two looks at a schema that `migrate` has not brought up
# The wait before the next broker session grows from the first to the last, doubling.
FIRST_RECONNECT_DELAY, MAX_RECONNECT_DELAY = 1.0, 30.0
T = TypeVar("T")

# What no retry fixes: the process exits and says why.
_CONFIGURATION_ERRORS = (
    ProbableAuthenticationError,
    ChannelPreconditionFailed,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
)


def database_address(settings: ProcessorSettings) -> str:
    """`TEVO_DATABASE_URL at host:port/database`: what a log line says was tried."""
    return f"TEVO_DATABASE_URL at {postgres_address(settings.database_url)}"


def broker_address(settings: ProcessorSettings) -> str:
    """`TEVO_AMQP_URL at host:port, ...`: the nodes tried, in the order of the setting."""
    return "TEVO_AMQP_URL at " + ", ".join(node_of(url) for url in settings.brokers.urls)


# A connection attempt that failed and may work later: the broker's, or the database's own rule.
_CONNECT_FAILURES: tuple[type[BaseException], ...] = (*CONNECTION_EXCEPTIONS, *NO_ANSWER)


class ConfigurationError(Exception):
    """The broker or the database refused what the settings ask: fix them and start again."""


class StoppedBeforeStart(Exception):
    """A stop signal came while the processor was still waiting for its broker or database."""


async def until_connected(
    what: str, connect: Callable[[], Awaitable[T]], stop: asyncio.Event, *, address: str
) -> T:
    """Retry `connect` until it works: a process started before its broker or database waits,
    and a SIGTERM meanwhile ends the wait instead of being ignored until the SIGKILL.

    `address`: where `connect` tries (hosts and ports, never credentials), for the log."""
    while not stop.is_set():
        try:
            return await connect()
        except _CONFIGURATION_ERRORS as exc:
            raise ConfigurationError(f"{what} at {address}: {type(exc).__name__}") from exc
        except _CONNECT_FAILURES as exc:
            log.warning(
                "connect.failed",
                target=what,
                address=address,
                error=type(exc).__name__,
                retry_in=CONNECT_RETRY_DELAY,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), CONNECT_RETRY_DELAY)
    raise StoppedBeforeStart(what)


async def until_migrated(pool: asyncpg.Pool, health: Health, stop: asyncio.Event) -> None:
    """Wait, not ready, until the schema is at the code's version: said once, in one line.

    Consuming before would fail every message on a missing table or column, and the processor
    and `migrate` are often started together (a Kubernetes Job next to the Deployment).
    """
    said = None
    while not stop.is_set():
        try:
            reason = await behind(pool)
        except NO_ANSWER as exc:
            reason = f"the database did not answer ({type(exc).__name__})"
        if reason is None:
            if said is not None:
                log.info("processor.schema_ready")
            health.schema = None
            return
        if reason != said:
            log.error("processor.schema_behind", reason=reason, retry_every=SCHEMA_POLL)
            said = health.schema = reason
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SCHEMA_POLL)
    raise StoppedBeforeStart("a migrated schema")


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

    `health`, when given, is told of the pool, the connections and any pause (readiness).
    """
    health = health or Health()
    metrics = metrics or ProcessorMetrics()
    async with AsyncExitStack() as stack:
        health.database_tried = True
        pool = await until_connected(
            "database",
            lambda: asyncpg.create_pool(
                settings.database_url, min_size=1, max_size=settings.db_pool_size
            ),
            stop,
            address=database_address(settings),
        )
        stack.push_async_callback(pool.close)
        health.pool, health.held_limit = pool, settings.held_delivery_limit
        await until_migrated(pool, health, stop)
        url = settings.notify_url.get_secret_value() if settings.notify_url else None
        notify = await stack.enter_async_context(notifying(url, pool))
        await stack.enter_async_context(
            supervised(
                "review_watch",
                lambda: watch(pool, settings, metrics, notify),
                metrics,
                restart_delay=settings.review_watch_interval,
            )
        )
        tevo_api = await open_api(stack, settings)  # None: no credentials, verification off
        if tevo_api is None:  # webhooks are unsigned: without the API a forged one is invoiced
            log.warning("verification.off", hint="set TEVO_API_TOKEN and TEVO_API_SECRET")
        else:
            log.info("verification.configured", enabled=True)
        health.pause = pause = Pause()
        deps = Deps(settings, tevo_api=tevo_api)
        session = Session(settings, consumers, pool, deps, metrics, notify=notify)
        await _supervise(session, pause, health, stop, started)
    log.info("processor.stopped")


async def _supervise(
    session: Session,
    pause: Pause,
    health: Health,
    stop: asyncio.Event,
    started: asyncio.Event | None,
) -> None:
    """Broker sessions one after another until `stop`."""
    delay = FIRST_RECONNECT_DELAY
    while not stop.is_set():
        try:
            await session.run(pause, health, stop, started)
        except _CONFIGURATION_ERRORS as exc:
            raise ConfigurationError(f"broker: {type(exc).__name__}: {exc}") from exc
        except (*CONNECTION_EXCEPTIONS, TimeoutError) as exc:
            if session.consumed:  # it had recovered: start the backoff over
                delay = FIRST_RECONNECT_DELAY
            log.warning(
                "processor.broker_lost",
                address=broker_address(session.settings),
                error=type(exc).__name__,
                retry_in=delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, MAX_RECONNECT_DELAY)
            continue
        delay = FIRST_RECONNECT_DELAY
        if pause.active and not stop.is_set():
            await pause.until_answered(stop, session.metrics)
