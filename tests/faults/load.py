"""Webhook load against a running ingress, counted per order, and the exactly-once check.

Every order has an id of its own. An accepted order (202) must end up as exactly one
`pos.sales` row and one `pos.order_history` row; an order never accepted must have none. Like
TEvo, a worker retries a 503 (or a dropped connection) until it gets a 202, so an order that
reached the broker without a confirm is accepted on a later try; every tenth order is only
ever posted with a wrong token (401), and must never be applied.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import asyncpg

from tests.payloads import FORM_HEADERS, form, order

GIVE_UP_AFTER = 90.0  # seconds of 503s before an order counts as never accepted
RETRY_PAUSE = 0.2  # TEvo waits 10 s; a test cannot
PACE = 0.05  # between orders, per worker: load enough, and CPU left for the services


@dataclass
class Load:
    webhook_url: str
    copies: int = 1  # posts per order: TEvo's retries of a webhook it thinks failed
    statuses: Counter[int | str] = field(default_factory=Counter)
    accepted: set[int] = field(default_factory=set)
    refused: set[int] = field(default_factory=set)  # 401 only, by design
    abandoned: set[int] = field(default_factory=set)  # never accepted in GIVE_UP_AFTER
    posts: int = 0
    # The ingress' message_id of each accepted order, from its 202: what the processor logs.
    message_ids: dict[int, str] = field(default_factory=dict)
    copies_accepted: Counter[int] = field(default_factory=Counter)  # 202s per order
    _ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(10_000_000 + uuid.uuid4().int % 80_000_000)
    )

    @property
    def sent(self) -> int:
        return len(self.accepted) + len(self.refused) + len(self.abandoned)

    async def run(self, stop: asyncio.Event, *, workers: int = 4, limit: int = 3000) -> None:
        """Post new orders until `stop` is set or `limit` orders were sent."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            await asyncio.gather(*(self._worker(session, stop, limit) for _ in range(workers)))

    async def _worker(
        self, session: aiohttp.ClientSession, stop: asyncio.Event, limit: int
    ) -> None:
        while not stop.is_set() and self.sent < limit:
            order_id = next(self._ids)
            if order_id % 10 == 0:
                await self._post(session, order_id, self.webhook_url + "-wrong")
                self.refused.add(order_id)
                continue
            results = [
                await self._post_until_accepted(session, order_id) for _ in range(self.copies)
            ]
            (self.accepted if any(results) else self.abandoned).add(order_id)
            await asyncio.sleep(PACE)

    async def _post_until_accepted(self, session: aiohttp.ClientSession, order_id: int) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GIVE_UP_AFTER
        while loop.time() < deadline:
            if await self._post(session, order_id, self.webhook_url) == 202:
                return True
            await asyncio.sleep(RETRY_PAUSE)
        return False

    async def _post(self, session: aiohttp.ClientSession, order_id: int, url: str) -> int | str:
        self.posts += 1
        body = form(order(id=order_id, oid=f"R{order_id}"))
        try:
            async with session.post(url, data=body, headers=FORM_HEADERS) as response:
                status: int | str = response.status
                if status == 202:
                    self.message_ids[order_id] = (await response.json())["message_id"]
                    self.copies_accepted[order_id] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            status = type(exc).__name__
        self.statuses[status] += 1
        return status

    def report(self) -> str:
        return json.dumps(
            {
                "sent": self.sent,
                "posts": self.posts,
                "accepted": len(self.accepted),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items(), key=str)},
            }
        )


def accepted_at_least(load: Load, n: int) -> Callable[[], Awaitable[bool | None]]:
    """A probe for `eventually`: `load` has `n` accepted orders."""

    async def probe() -> bool | None:
        return len(load.accepted) >= n or None

    return probe


async def applied_rows(conn: asyncpg.Connection, ids: set[int]) -> dict[str, Counter[int]]:
    """Rows per order id in pos.sales and pos.order_history, for the ids given."""
    found: dict[str, Counter[int]] = {}
    for table in ("sales", "order_history"):
        rows = await conn.fetch(
            f"SELECT tevo_order_id, count(*) AS n FROM pos.{table} "  # noqa: S608 - table names are the two literals above
            "WHERE tevo_order_id = ANY($1::bigint[]) GROUP BY tevo_order_id",
            list(ids),
        )
        found[table] = Counter({r["tevo_order_id"]: r["n"] for r in rows})
    return found
