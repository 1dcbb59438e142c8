"""Tell a person when it matters: a Slack-compatible POST, once per sale or message, unwaited.

When a message is dead-lettered or a sale starts to need a person, the processor hands a
`Notice` to `Notifier.tell`, which only puts it on a bounded queue: a slow or absent target
never holds up a message. A background task sends them one at a time with a timeout, each only
if `first` says it was not sent before (`pos.notifications`, across every replica), and drops
what does not fit in the queue (logged). A notice names the order, the reason and the console's
link, never a body, a buyer's detail or the error's text (it can quote the body).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import aiohttp
import asyncpg
import structlog

log = structlog.get_logger("processor.notify")

Kind = Literal["dead_lettered", "needs_person"]
FIRST_SQL = """
INSERT INTO pos.notifications (kind, subject) VALUES ($1, $2)
ON CONFLICT DO NOTHING RETURNING 1
"""


@dataclass(frozen=True)
class Notice:
    kind: Kind
    subject: str  # the message id or the order id: one notice per (kind, subject), ever
    text: str


def dead_lettered(
    base_url: str,
    *,
    consumer: str,
    message_id: str,
    order: tuple[int | None, int | None],
    reason: str,
    error: str,
) -> Notice:
    """`order`: the TEvo order id when the body names one, and the order group id."""
    order_id, group = order
    if order_id is not None:
        about, link = f"order {order_id}", f"{base_url}/orders/{order_id}"
    elif group is not None:
        about, link = f"order group {group}", f"{base_url}/?q={group}"
    else:
        about, link = "a message naming no order", f"{base_url}/dead-letters"
    return Notice(
        "dead_lettered",
        message_id,
        f"Dead-lettered: {about} ({consumer}): {reason}, {error}. {link}",
    )


def needs_person(base_url: str, *, order_id: int, reason: str) -> Notice:
    text = f"Needs a person: sale {order_id}: {reason}. {base_url}/orders/{order_id}"
    return Notice("needs_person", str(order_id), text)


Tell = Callable[[Notice], None]


def first_time(pool: asyncpg.Pool) -> Callable[[Notice], Awaitable[bool]]:
    """Whether a notice is new, claimed in Postgres so that no replica sends it again."""

    async def first(notice: Notice) -> bool:
        return await pool.fetchval(FIRST_SQL, notice.kind, notice.subject) is not None

    return first


@contextlib.asynccontextmanager
async def notifying(url: str | None, pool: asyncpg.Pool) -> AsyncIterator[Tell | None]:
    """A running notifier's `tell` while the block runs (None without a URL); stopped after."""
    if url is None:
        yield None
        return
    async with aiohttp.ClientSession() as session:
        notifier = Notifier(url, first_time(pool), session)
        task = asyncio.create_task(notifier.run(), name="notify")
        try:
            yield notifier.tell
        finally:
            task.cancel()
            await asyncio.wait([task])  # its CancelledError stays inside the task


class Notifier:
    QUEUE = 256

    def __init__(
        self,
        url: str,
        first: Callable[[Notice], Awaitable[bool]],
        session: aiohttp.ClientSession,
        timeout: float = 5.0,
    ) -> None:
        self._url, self._first, self._session = url, first, session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._queue: asyncio.Queue[Notice] = asyncio.Queue(self.QUEUE)

    def tell(self, notice: Notice) -> None:
        """Queue `notice`; never waits. A full queue drops it (the target is down or slow)."""
        try:
            self._queue.put_nowait(notice)
        except asyncio.QueueFull:
            log.warning("notify.dropped", kind=notice.kind, subject=notice.subject)

    async def run(self) -> None:
        """Send queued notices until cancelled."""
        while True:
            notice = await self._queue.get()
            await self._send(notice)

    async def drain(self) -> None:
        """Send what is queued now (tests, and a last chance before shutdown)."""
        while not self._queue.empty():
            await self._send(self._queue.get_nowait())

    async def _send(self, notice: Notice) -> None:
        try:
            if not await self._first(notice):
                return
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("notify.unrecorded", kind=notice.kind, error_type=type(exc).__name__)
            return  # unsure whether it went before: once at most, rather than twice
        try:
            async with self._session.post(
                self._url, json={"text": notice.text}, timeout=self._timeout
            ) as response:
                if response.status >= 300:
                    log.warning("notify.refused", kind=notice.kind, status=response.status)
                    return
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Never the URL: an incoming webhook's URL is its secret.
            log.warning("notify.failed", kind=notice.kind, error_type=type(exc).__name__)
            return
        log.info("notify.sent", kind=notice.kind, subject=notice.subject)
