"""Pause consumption while a dependency every message needs is down; probe until it answers.

An outage of Postgres, or of TEvo's API with verification on, is no fault of the messages, nor
is a schema that `migrate` has not brought to the code's version: retrying them would spend
their attempts and, past the retry budget, dead-letter every webhook of the outage. So when a
message fails with `DatabaseUnavailable`, `SchemaNotMigrated` or `UpstreamUnavailable` and a
probe of that dependency fails too, the dispatcher requeues the message and trips the pause; it
requeues whatever it is handed while paused. The runtime then stops consuming (what it holds
goes back to the queue unacked), probes with a growing interval, and consumes again once the
dependency answers. A failure whose dependency does answer (a slow query, a lock timeout) is the
message's own and takes the retry path (the table in `processor.runtime.dispatch`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import structlog

from processor.errors import (
    NO_ANSWER,
    DatabaseUnavailable,
    ProcessingError,
    SchemaNotMigrated,
    UpstreamUnavailable,
)
from processor.handler import OrdersApi
from processor.metrics import ProcessorMetrics
from processor.runtime.schema import behind

log = structlog.get_logger(__name__)

PROBE_TIMEOUT = 5.0
FIRST_PROBE_DELAY = 1.0
MAX_PROBE_DELAY = 15.0

Probe = Callable[[], Awaitable[bool]]
# What /readyz says while paused, by dependency (the label of tevo_processor_paused_seconds).
REASONS = {
    "database": "database unavailable",
    "tevo_api": "tevo_api unavailable",
    "schema": "schema not migrated",
}


def database_probe(pool: asyncpg.Pool) -> Probe:
    async def answers() -> bool:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT), pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except NO_ANSWER:
            return False
        # Connections opened before a failure may be dead (a restart cuts them all): replace
        # each as it is next released, so the first messages after an outage do not fail on
        # them and spend an attempt.
        await pool.expire_connections()
        return True

    return answers


def schema_probe(pool: asyncpg.Pool) -> Probe:
    """The schema answers once `migrate` brought it to the code's version."""

    async def answers() -> bool:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                reason = await behind(pool)
        except NO_ANSWER:
            return False
        return reason is None

    return answers


def tevo_probe(api: OrdersApi, order_id: int) -> Probe:
    """TEvo answers when it says anything about the order, even a refusal."""

    async def answers() -> bool:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                await api.get_order(order_id)
        except (UpstreamUnavailable, TimeoutError):
            return False
        except ProcessingError:
            return True  # 401, 404, a malformed answer: TEvo is there, the outage is over
        return True

    return answers


def outage_probe(
    error: ProcessingError, pool: asyncpg.Pool, api: OrdersApi | None, order_id: int | None
) -> Probe | None:
    """How to tell whether `error` means its dependency is down; None: it cannot mean that."""
    if isinstance(error, DatabaseUnavailable):
        return database_probe(pool)
    if isinstance(error, SchemaNotMigrated):
        return schema_probe(pool)
    if isinstance(error, UpstreamUnavailable) and api is not None and order_id is not None:
        return tevo_probe(api, order_id)
    return None


def dependency(error: ProcessingError) -> str:
    """The label of the dependency an outage error is about."""
    if isinstance(error, SchemaNotMigrated):
        return "schema"
    return "database" if isinstance(error, DatabaseUnavailable) else "tevo_api"


@dataclass
class Pause:
    """Why consumption is paused (None: it is not) and how to tell that it may resume."""

    reason: str | None = None
    probe: Probe | None = None
    tripped: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def active(self) -> bool:
        return self.reason is not None

    def trip(self, error: ProcessingError, probe: Probe) -> None:
        if self.reason is not None:
            return  # one pause at a time; the first dependency found down is probed
        self.reason, self.probe = REASONS[dependency(error)], probe
        self.tripped.set()
        log.warning("processor.paused", reason=self.reason, error=str(error)[:200])

    async def until_answered(self, stop: asyncio.Event, metrics: ProcessorMetrics) -> None:
        """Probe with a growing interval until the dependency answers or `stop` is set,
        counting the paused seconds as they pass (a scrape during the pause sees them grow)."""
        reason, probe = self.reason, self.probe
        if reason is None or probe is None:
            return
        kind = next(key for key, text in REASONS.items() if text == reason)
        loop = asyncio.get_running_loop()
        started = last = loop.time()
        delay = FIRST_PROBE_DELAY
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set() or await probe():
                break
            log.info("processor.probe_failed", reason=reason, retry_in=delay)
            now = loop.time()
            metrics.paused_seconds.labels(kind).inc(now - last)
            last, delay = now, min(delay * 2, MAX_PROBE_DELAY)
        metrics.paused_seconds.labels(kind).inc(loop.time() - last)
        if not stop.is_set():
            log.info("processor.resumed", reason=reason, paused_s=round(last - started, 1))
        self.reason, self.probe = None, None
        self.tripped.clear()
