"""The webhooks no consumer took: list them, and hand them to the consumers registered now.

A webhook whose routing key no queue is bound to waits in `<ns>.unrouted`. Once a consumer for
it is registered and `migrate` declared its queue, `move_unrouted` republishes each waiting
message to `<ns>.webhooks` under its original routing key, headers and `message_id`, waits for
the broker's confirm, and only then acks it off `<ns>.unrouted`. A crash in between leaves a copy
in both places, which the consumer's inbox absorbs.

Both make one pass over the messages the queue holds when they start, and hold the ones they
leave unacked until the pass ends, so no message is seen twice and nothing loops: a message that
still has no consumer is left where it was. Neither returns a body (they hold buyer PII).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from aio_pika.abc import AbstractConnection, AbstractExchange, AbstractIncomingMessage
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, ChannelNotFoundEntity, DeliveryError

from contracts import Topology
from processor.handler import Consumer
from processor.ops.progress import Progress, Silent
from processor.runtime.republish import publish_copy

log = structlog.get_logger(__name__)


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: `*` is exactly one word, `#` zero or more."""
    return _match(pattern.split("."), key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    return bool(words) and head in ("*", words[0]) and _match(rest, words[1:])


def consumer_for(routing_key: str | None, consumers: Sequence[Consumer]) -> str | None:
    """The name of a consumer bound to `routing_key`, or None when none is."""
    for consumer in consumers:
        if routing_key and any(topic_matches(p, routing_key) for p in consumer.routing_keys):
            return consumer.name
    return None


def describe(message: AbstractIncomingMessage, consumers: Sequence[Consumer]) -> str:
    """One line: routing key, the consumer that would take it, message id, headers; no body."""
    headers = json.dumps(dict(message.headers or {}), sort_keys=True, default=str)
    taker = consumer_for(message.routing_key, consumers) or "-"
    return f"{message.routing_key}\t{taker}\t{message.message_id}\t{headers}"


async def list_unrouted(
    connection: AbstractConnection, topology: Topology, consumers: Sequence[Consumer], limit: int
) -> list[str] | None:
    """A header line and one line per waiting message; None when the queue does not exist."""
    async with connection.channel() as channel:
        try:
            queue = await channel.declare_queue(topology.unrouted, passive=True)
        except ChannelNotFoundEntity:
            return None
        waiting = int(queue.declaration_result.message_count or 0)
        lines = [
            f"{topology.unrouted}: {waiting} message(s), showing {min(waiting, limit)}",
            "routing key\tconsumer\tmessage id\theaders",
        ]
        for _ in range(min(waiting, limit)):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            lines.append(describe(message, consumers))
        # Closing the channel hands every message back to the queue, unacked and in order.
    return lines


@dataclass
class MoveReport:
    moved: int = 0
    left: int = 0
    stopped: str | None = None


async def move_unrouted(
    connection: AbstractConnection,
    topology: Topology,
    consumers: Sequence[Consumer],
    limit: int | None = None,
    progress: Progress | None = None,
) -> MoveReport:
    """Republish every waiting message a consumer now takes; leave the others where they are.

    `progress` counts the messages looked at, out of those waiting when the pass began.
    """
    report, progress = MoveReport(), progress if progress is not None else Silent()
    async with connection.channel(publisher_confirms=True, on_return_raises=True) as channel:
        queue = await channel.declare_queue(topology.unrouted, passive=True)
        exchange = await channel.get_exchange(topology.webhooks_exchange)
        waiting = int(queue.declaration_result.message_count or 0)
        budget = waiting if limit is None else min(waiting, limit)
        progress.reset(total=budget)
        for _ in range(budget):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            progress.update(1)
            taker = consumer_for(message.routing_key, consumers)
            if taker is None:
                report.left += 1  # held unacked until the pass ends, then back in the queue
                continue
            try:
                await _republish(exchange, message)
            except (DeliveryError, TimeoutError, *CONNECTION_EXCEPTIONS) as exc:
                report.stopped = f"publish not confirmed ({type(exc).__name__})"
                log.exception("unrouted.move_failed", moved=report.moved)
                break
            await message.ack()
            report.moved += 1
            key, message_id = message.routing_key, message.message_id
            log.info("unrouted.moved", routing_key=key, message_id=message_id, consumer=taker)
    return report


async def _republish(exchange: AbstractExchange, message: AbstractIncomingMessage) -> None:
    # `x-` headers are the broker's bookkeeping of the stay in unrouted (x-delivery-count), not
    # the webhook's: the consumer's queue keeps its own.
    headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("x-")}
    await publish_copy(exchange, message, message.routing_key or "", headers)
