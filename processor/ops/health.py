"""Is this processor alive, and ready: is its broker connection up and its database pool usable?"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
import structlog
from aio_pika.abc import AbstractConnection

log = structlog.get_logger("processor.ops.health")

PROBE_TIMEOUT = 2.0


@dataclass
class Health:
    """What readiness looks at. The runtime fills it in as each connection comes up."""

    broker: AbstractConnection | None = None
    pool: asyncpg.Pool | None = None
    probe_timeout: float = PROBE_TIMEOUT

    def broker_up(self) -> bool:
        broker = self.broker
        # A robust connection stays open while it reconnects; `connected` says if it is there.
        return broker is not None and not broker.is_closed and broker.connected.is_set()

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
