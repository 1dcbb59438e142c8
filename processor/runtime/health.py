"""Is this processor alive, and ready: is its broker connection up and its database pool usable?"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
import structlog
from aio_pika.abc import AbstractConnection

from processor.runtime.pause import Pause

log = structlog.get_logger(__name__)

PROBE_TIMEOUT = 2.0


@dataclass
class Health:
    """What readiness looks at. The runtime fills it in as each connection comes up."""

    broker: AbstractConnection | None = None  # the consuming connection
    publisher: AbstractConnection | None = None  # the one copies of failed messages go out on
    pool: asyncpg.Pool | None = None
    pause: Pause | None = None  # why consumption is paused, if it is
    probe_timeout: float = PROBE_TIMEOUT

    def broker_up(self) -> bool:
        return _up(self.broker) and (self.publisher is None or _up(self.publisher))

    @property
    def paused(self) -> str | None:
        """Why the processor takes no deliveries now, or None."""
        return None if self.pause is None else self.pause.reason

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
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            log.warning("readiness.database_down", error=type(exc).__name__)
            return False
        return True

    async def check(self) -> dict[str, bool]:
        """Each dependency and whether it is usable now."""
        return {"broker": self.broker_up(), "database": await self.database_up()}


def _up(connection: AbstractConnection | None) -> bool:
    # A robust connection stays open while it reconnects; `connected` says if it is there.
    return connection is not None and not connection.is_closed and connection.connected.is_set()
