"""Settle the deliveries of one channel: committed work acked in runs, one basic.ack per run.

`basic.ack` with `multiple=True` acks every unsettled delivery up to its tag, so it may only be
sent for a run that starts at the channel's oldest unsettled delivery: one that another batch
still holds (not yet committed) must not be acked with it. `Acks` keeps the channel's
unsettled delivery tags in the order they were delivered; acking a batch sends one multiple-ack
for the run of its deliveries at the front, and a single ack for each of the others. Every ack
is sent after the commit that it settles; a delivery that was never `received` (a
tool's, a test's) is acked alone.

A batch whose handling crashed gives its unsettled deliveries back at once (`release`): left
unacked, they would stay at the front of the order for the life of the channel, and every later
ack would be a single one. `oldest_age` says how long the oldest unsettled delivery has been
held, for the metric and readiness that catch one stranded anyway.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Sequence

import structlog
from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

log = structlog.get_logger(__name__)


class Acks:
    """The unsettled deliveries of one consuming channel, oldest first.

    Every ack and nack of the channel goes through here, one at a time: a multiple-ack that
    overtook a single ack or a nack of a delivery it covers would ack that delivery twice (the
    broker closes the channel) or, for a nack, ack a message meant to go back to its queue.
    """

    def __init__(self) -> None:
        self._order: deque[int] = deque()  # tags as delivered; settled ones are skipped lazily
        self._unsettled: dict[int, float] = {}  # tag -> when it was received (monotonic)
        self._sending = asyncio.Lock()  # frames leave in the order the tags were settled

    def received(self, delivery: AbstractIncomingMessage) -> None:
        """Note a delivery as it arrives: its tag joins the channel's unsettled ones."""
        tag = delivery.delivery_tag
        if tag is not None:
            self._order.append(tag)
            self._unsettled[tag] = time.monotonic()

    async def ack(self, deliveries: Sequence[AbstractIncomingMessage]) -> None:
        """Ack `deliveries`, whose work committed: one multiple-ack for those that are the
        oldest unsettled, a single ack each for the rest."""
        async with self._sending:
            run_end, in_run = self._take_run({d.delivery_tag for d in deliveries})
            for delivery in deliveries:
                tag = delivery.delivery_tag
                if tag is not None and tag == run_end:
                    await settled(delivery.ack(multiple=True))
                elif tag not in in_run:
                    self._unsettled.pop(tag, None)  # type: ignore[arg-type]  # None: never received
                    await settled(delivery.ack())

    async def nack(self, delivery: AbstractIncomingMessage) -> None:
        """Back to its queue, for the broker to deliver again."""
        async with self._sending:
            self._unsettled.pop(delivery.delivery_tag, None)  # type: ignore[arg-type]
            await settled(delivery.nack(requeue=True))

    async def release(self, deliveries: Sequence[AbstractIncomingMessage]) -> int:
        """Back to the queue, those of `deliveries` not settled yet (a crashed batch's: some may
        have been acked before the crash, and a second settle would close the channel); how
        many went back."""
        released = 0
        async with self._sending:
            for delivery in deliveries:
                if self._unsettled.pop(delivery.delivery_tag, None) is not None:  # type: ignore[arg-type]
                    await settled(delivery.nack(requeue=True))
                    released += 1
        return released

    def oldest_age(self) -> float:
        """Seconds the oldest unsettled delivery has been held; 0 when none is."""
        order, unsettled = self._order, self._unsettled
        while order and order[0] not in unsettled:
            order.popleft()  # settled out of order earlier: skipped now, as `_take_run` would
        if not order:
            return 0.0
        return time.monotonic() - unsettled[order[0]]

    def _take_run(self, tags: set[int | None]) -> tuple[int | None, set[int]]:
        """The deliveries of `tags` that are the oldest unsettled, now settled: the last tag
        of that run (None: no run) and all of them."""
        order, unsettled = self._order, self._unsettled
        mine = tags & unsettled.keys()
        run_end, in_run = None, set()
        while order and (order[0] not in unsettled or order[0] in mine):
            tag = order.popleft()
            if tag in mine:
                del unsettled[tag]
                run_end = tag
                in_run.add(tag)
        return run_end, in_run


async def settled(settling: Awaitable[object]) -> None:
    """Await an ack or nack; on a channel that just died, the broker redelivers (the inbox
    absorbs the copy), so that is logged, not raised."""
    try:
        await settling
    except CONNECTION_EXCEPTIONS as exc:
        log.warning("message.settle_failed", error=type(exc).__name__)
