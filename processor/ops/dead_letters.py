"""Read, replay and purge a consumer's dead letters on the broker, losing none on the way.

AMQP cannot browse a queue: reading takes messages out. `peek` takes them with basic.get, holds
them unacked, and nacks them back with requeue, in the order it got them. On the quorum queues we
run (RabbitMQ 3.10 to 3.13) a requeued message goes to the *back* of the queue, and a channel
closed on unacked messages returns them in no particular order, so `peek` reads the whole queue
(up to `PEEK_CAP`) and requeues it in order: a full turn leaves the order as it was. The
management API's "get messages" does the same basic.get and requeue inside the broker, with the
same reordering, and needs the management plugin and its credentials besides; so we do not use
it. `.dead` queues are declared without a delivery limit and their policy sets 1,000,000 (not
RabbitMQ 4's default 20), so the redeliveries counted by a peek drop nothing.

`replay` publishes each dead letter to its consumer's own queue through the default exchange
(never the topic exchange, which would hand it to every consumer bound to its key), waits for
the broker's confirm, and only then acks the dead letter: interrupted anywhere, it leaves the
message dead, or duplicated (the inbox absorbs the second copy), never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from contracts import envelope as h
from contracts.topology import Topology
from processor.ops.dead_letter_filter import Filter, order_ids
from processor.ops.progress import Progress, Silent
from processor.runtime.republish import publish_copy
from processor.runtime.retries import attempts_made, dead_letter_reason, fresh_headers

# Beyond this many, a peek stops reading: the rest keeps its place, the part read rotates.
PEEK_CAP = 10_000
SETTLE_TIMEOUT = 5.0
SETTLE_POLL = 0.02


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter as an operator reads it."""

    consumer: str
    message_id: str | None
    headers: dict[str, Any]
    body: bytes

    @property
    def reason(self) -> str:
        return dead_letter_reason(self.headers)

    @property
    def order_ids(self) -> set[int]:
        return order_ids(self.headers, self.body)

    def matches(self, matching: Filter) -> bool:
        return matching.matches(self.headers, self.body, self.message_id)

    def summary(self) -> dict[str, Any]:
        """Everything but the body and the raw headers, ready for JSON."""
        text = {k: _text(self.headers.get(k)) for k in SUMMARY_HEADERS}
        return {
            "consumer": self.consumer,
            "message_id": self.message_id,
            "reason": self.reason,
            "attempts": attempts_made(self.headers),
            **text,
        }


SUMMARY_HEADERS = (
    h.HEADER_ORIGINAL_ROUTING_KEY,
    h.HEADER_ORDER_GROUP_ID,
    h.HEADER_ERROR_TYPE,
    h.HEADER_ERROR_MESSAGE,
    h.HEADER_FIRST_FAILED_AT,
    h.HEADER_LAST_FAILED_AT,
    h.HEADER_RECEIVED_AT,
)


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


async def depth(channel: AbstractChannel, queue: str) -> int:
    declared = await channel.declare_queue(queue, passive=True)
    return int(declared.declaration_result.message_count or 0)


async def peek(
    channel: AbstractChannel, topology: Topology, consumer: str, progress: Progress | None = None
) -> list[DeadLetter]:
    """Every dead letter of `consumer` (up to `PEEK_CAP`), left in the queue in its order."""
    return await peek_queue(channel, topology.dead_letter_queue(consumer), consumer, progress)


async def peek_queue(
    channel: AbstractChannel, name: str, consumer: str, progress: Progress | None = None
) -> list[DeadLetter]:
    """Every message of queue `name` (up to `PEEK_CAP`), left in the queue in its order."""
    queue = await channel.get_queue(name)
    available = await depth(channel, queue.name)
    held: list[AbstractIncomingMessage] = []
    progress = progress if progress is not None else Silent()
    progress.reset(total=min(available, PEEK_CAP))
    try:
        await _take(queue, min(available, PEEK_CAP), held, progress)
    finally:
        await _requeue(held)
    await _settle(channel, queue.name, available)
    return [_dead_letter(consumer, m) for m in held]


class Replayed(list[str | None]):
    """The ids of the dead letters sent back, in order; `left`: those asked for and not taken
    (another reader held them longer than `SETTLE_TIMEOUT`, or took them)."""

    left: int = 0


async def replay(
    channel: AbstractChannel,
    topology: Topology,
    consumer: str,
    *,
    limit: int | None = None,
    message_id: str | None = None,
    matching: Filter | None = None,
    progress: Progress | None = None,
) -> Replayed:
    """Send dead letters back to `consumer`'s queue with a fresh retry budget; their ids.

    Takes at most the queue's depth at the start, so a message that dies again during the
    replay is not replayed twice; one that another reader holds a moment is waited for.
    `channel` must confirm publishes and raise on returns. `progress` counts the messages
    sent back (or, with `message_id` or `matching`, first those looked at). `message_id` is
    short for a filter of that one id.
    """
    if message_id is not None:
        matching = Filter(message_ids=frozenset({message_id}))
    queue = await channel.get_queue(topology.dead_letter_queue(consumer))
    available = await depth(channel, queue.name)
    held: list[AbstractIncomingMessage] = []
    replayed = Replayed()
    progress = progress if progress is not None else Silent()
    try:
        if matching is None or matching.everything:
            # One at a time from the head: nothing else is held, however deep the queue.
            budget = available if limit is None else min(available, limit)
            progress.reset(total=budget)
            while len(replayed) < budget and await _take_patiently(channel, queue, 1, held):
                if held[-1].message_id in replayed:
                    break  # sent back and dead again: the queue went round, the rest was taken
                await _send_back(channel, topology, consumer, held.pop(), replayed)
                progress.update(1)
            replayed.left = budget - len(replayed)
            return replayed
        wanted = min(available, PEEK_CAP)
        progress.reset(total=wanted)
        looked = await _take_patiently(channel, queue, wanted, held, progress)
        held = await _keep_only(held, matching, limit)
        await _settle(channel, queue.name, available - len(held))
        while held:
            await _send_back(channel, topology, consumer, held.pop(0), replayed)
        replayed.left = wanted - looked
        return replayed
    finally:
        await _requeue(held)


async def _take_patiently(
    channel: AbstractChannel,
    queue: AbstractQueue,
    count: int,
    into: list[AbstractIncomingMessage],
    progress: Progress | None = None,
) -> int:
    """`_take`, waiting (up to `SETTLE_TIMEOUT`) for messages another reader holds a moment:
    a `list` takes every dead letter unacked, then requeues them all."""
    taken = await _take(queue, count, into, progress)
    while taken < count:
        await _settle(channel, queue.name, 1)
        more = await _take(queue, count - taken, into, progress)
        if not more:
            break
        taken += more
    return taken


async def _keep_only(
    held: list[AbstractIncomingMessage], matching: Filter, limit: int | None
) -> list[AbstractIncomingMessage]:
    """Of the messages `held`, those `matching` (at most `limit`); the rest requeued."""
    chosen = [m for m in held if _dead_letter("", m).matches(matching)][:limit]
    # The others go back first, in order: a replayed message that dies again lines up
    # behind them, and a full turn leaves them where they were.
    await _requeue([m for m in held if m not in chosen])
    return chosen


async def _send_back(
    channel: AbstractChannel,
    topology: Topology,
    consumer: str,
    message: AbstractIncomingMessage,
    replayed: list[str | None],
) -> None:
    queue, headers = topology.consumer_queue(consumer), fresh_headers(dict(message.headers or {}))
    await publish_copy(channel.default_exchange, message, queue, headers)
    await message.ack()  # only now: the copy is confirmed
    replayed.append(message.message_id)


async def purge(
    channel: AbstractChannel,
    topology: Topology,
    consumer: str,
    *,
    limit: int | None = None,
    matching: Filter | None = None,
) -> list[str | None]:
    """Delete `consumer`'s dead letters (the oldest `limit` of those `matching`); their ids."""
    queue = await channel.get_queue(topology.dead_letter_queue(consumer))
    available = await depth(channel, queue.name)
    taken: list[AbstractIncomingMessage] = []
    gone: list[str | None] = []
    try:
        if matching is None or matching.everything:
            budget = available if limit is None else min(available, limit)
            while len(gone) < budget and await _take(queue, 1, taken):
                message = taken.pop()
                await message.ack()
                gone.append(message.message_id)
            return gone
        await _take(queue, min(available, PEEK_CAP), taken)
        taken = await _keep_only(taken, matching, limit)
        await _settle(channel, queue.name, available - len(taken))
        while taken:
            message = taken.pop(0)
            await message.ack()
            gone.append(message.message_id)
        return gone
    finally:
        await _requeue(taken)


async def _take(
    queue: AbstractQueue,
    count: int,
    into: list[AbstractIncomingMessage],
    progress: Progress | None = None,
) -> int:
    """Get up to `count` more messages into `into`, unacked; how many came.

    Fills `into` as it goes, so a caller's `finally` requeues what was taken before a failure.
    """
    taken = 0
    while taken < count:
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            break
        into.append(message)
        taken += 1
        if progress is not None:
            progress.update(1)
    return taken


async def _requeue(messages: list[AbstractIncomingMessage]) -> None:
    # In order, so a full turn of the queue puts every message back where it was. On a dead
    # channel the nack cannot be sent, but the broker returns unacked messages by itself.
    for message in messages:
        with contextlib.suppress(aio_pika.exceptions.ChannelInvalidStateError):
            await message.nack(requeue=True)


async def _settle(channel: AbstractChannel, queue: str, at_least: int) -> None:
    """Wait, a bounded time, until `queue` shows `at_least` messages again.

    A nack is not answered: the broker puts requeued messages back a moment later. Whatever
    reads the queue next (another peek, a replay) should find them there.
    """
    for _ in range(int(SETTLE_TIMEOUT / SETTLE_POLL)):
        if await depth(channel, queue) >= at_least:
            return
        await asyncio.sleep(SETTLE_POLL)


def _dead_letter(consumer: str, message: AbstractIncomingMessage) -> DeadLetter:
    return DeadLetter(consumer, message.message_id, dict(message.headers or {}), message.body)
