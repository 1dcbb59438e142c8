"""Every copy of an order the broker still holds, and why: dead-lettered, delayed, or unrouted.

Read with the dead-letter code's `peek_queue` (basic.get, then requeued in order, so a full
turn leaves each queue as it was). A consumer's own queue is not read: its messages are on their
way to a running consumer, and taking them would reorder live traffic; its depth is shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aio_pika.abc import AbstractConnection
from aio_pika.exceptions import ChannelNotFoundEntity

from contracts import envelope as h
from contracts.topology import Topology
from processor.handler import Consumer
from processor.ops.dead_letter_filter import failed_at
from processor.ops.dead_letters import DeadLetter, depth, peek_queue
from processor.ops.unrouted import consumer_for


@dataclass(frozen=True)
class Held:
    """One copy of a message about the order, where it waits and why."""

    where: str  # dead letter | retry delay | unrouted
    queue: str
    consumer: str
    message_id: str | None
    event_type: str
    reason: str
    attempts: int
    last_failed_at: str


def _held(where: str, queue: str, letter: DeadLetter, consumer: str, why: str) -> Held:
    summary = letter.summary()
    error = f"{summary['error_type']}: {summary['error_message']}" if summary["error_type"] else ""
    failed = failed_at(letter.headers)
    return Held(
        where=where,
        queue=queue,
        consumer=consumer,
        message_id=letter.message_id,
        event_type=str(letter.headers.get(h.HEADER_EVENT_TYPE) or "-"),
        reason=" - ".join(p for p in (why, error) if p),
        attempts=int(summary["attempts"]),
        last_failed_at="-" if failed is None else f"{failed:%Y-%m-%d %H:%M:%S}",
    )


async def held_copies(
    connection: AbstractConnection,
    topology: Topology,
    consumers: Sequence[Consumer],
    delays: Sequence[int],
    ids: set[int],
) -> tuple[list[Held], dict[str, int]]:
    """The copies of messages naming any of `ids`, and the depth of each consumer queue."""
    found: list[Held] = []
    waiting: dict[str, int] = {}
    for consumer in consumers:
        dead = topology.dead_letter_queue(consumer.name)
        for letter in await _read(connection, dead, consumer.name):
            if letter.order_ids & ids:
                found.append(_held("dead letter", dead, letter, consumer.name, letter.reason))
        count = await _depth(connection, topology.consumer_queue(consumer.name))
        if count:
            waiting[consumer.name] = count
    for seconds in delays:
        queue = topology.delay_queue(seconds)
        for letter in await _read(connection, queue, ""):
            if letter.order_ids & ids:
                taker = str(letter.headers.get(h.HEADER_CONSUMER) or "-")
                found.append(_held("retry delay", queue, letter, taker, f"retry in {seconds} s"))
    for letter in await _read(connection, topology.unrouted, ""):
        if letter.order_ids & ids:
            recipient, event = (
                letter.headers.get(k) for k in (h.HEADER_RECIPIENT, h.HEADER_EVENT_TYPE)
            )
            key = f"{recipient}.{event}"
            taker = consumer_for(key, consumers) or "-"
            why = "no consumer was bound to its routing key"
            found.append(_held("unrouted", topology.unrouted, letter, taker, why))
    return found, waiting


# A channel of its own for each queue: a queue that does not exist closes the channel that asked.
async def _read(connection: AbstractConnection, queue: str, consumer: str) -> list[DeadLetter]:
    try:
        async with connection.channel() as channel:
            return await peek_queue(channel, queue, consumer)
    except ChannelNotFoundEntity:
        return []  # not declared (no migrate yet, or a delay no longer configured): holds nothing


async def _depth(connection: AbstractConnection, queue: str) -> int:
    try:
        async with connection.channel() as channel:
            return await depth(channel, queue)
    except ChannelNotFoundEntity:
        return 0
