"""Is this processor alive, and ready: broker up, database usable, schema current, none stuck?"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
import structlog
from aio_pika.abc import AbstractConnection

from processor.errors import NO_ANSWER
from processor.runtime.pause import Pause

log = structlog.get_logger(__name__)

PROBE_TIMEOUT = 2.0
UP, DOWN, NOT_TRIED = "up", "down", "not tried"


@dataclass
class Health:
    """What readiness looks at. The runtime fills it in as each connection comes up."""

    broker: AbstractConnection | None = None  # the consuming connection
    publisher: AbstractConnection | None = None  # the one copies of failed messages go out on
    pool: asyncpg.Pool | None = None
    pause: Pause | None = None  # why consumption is paused, if it is
    schema: str | None = None  # why the schema is not the code's, while the processor waits
    # How long the session's oldest unsettled delivery has been held, and the most it may be.
    held: Callable[[], float] | None = None
    held_limit: float = float("inf")
    probe_timeout: float = PROBE_TIMEOUT
    # Whether a connection was asked for yet: the broker is tried only once the database
    # answers, and until then readiness says "not tried" rather than "down".
    broker_tried: bool = False
    database_tried: bool = False

    def broker_up(self) -> bool:
        return _up(self.broker) and (self.publisher is None or _up(self.publisher))

    @property
    def paused(self) -> str | None:
        """Why the processor takes no deliveries now, or None."""
        if self.schema is not None:
            return self.schema
        return None if self.pause is None else self.pause.reason

    def held_for(self) -> float:
        """Seconds the oldest delivery in hand has been held unacked (0: none is)."""
        return 0.0 if self.held is None else self.held()

    async def database_up(self) -> bool:
        pool = self.pool
        if pool is None:
            return False
        if pool.get_idle_size() == 0 and pool.get_size() >= pool.get_max_size():
            # Every connection is busy applying messages: the database answers, it is just busy.
            return True
        try:
            async with asyncio.timeout(self.probe_timeout), pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except NO_ANSWER as exc:
            log.warning("readiness.database_down", error=type(exc).__name__)
            return False
        return True

    def held_too_long(self) -> bool:
        """A delivery has been held unacked past the limit: stranded, while others may flow."""
        return self.held_for() > self.held_limit

    async def check(self) -> dict[str, bool]:
        """Each dependency and whether it is usable now."""
        return {"broker": self.broker_up(), "database": await self.database_up()}

    async def states(self) -> dict[str, str]:
        """Each dependency as readiness reports it: "up", "down", or "not tried" yet."""
        checks = await self.check()
        tried = {"broker": self.broker_tried, "database": self.database_tried}
        return {
            name: UP if up else (DOWN if tried[name] else NOT_TRIED) for name, up in checks.items()
        }


def _up(connection: AbstractConnection | None) -> bool:
    # A robust connection stays open while it reconnects; `connected` says if it is there.
    return connection is not None and not connection.is_closed and connection.connected.is_set()
