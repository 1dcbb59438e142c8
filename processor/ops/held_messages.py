"""Go through the messages a queue holds and keep, drop or replace each one, losing none.

Retention drops dead letters past their keep period; erasure replaces a message that mentions
the person with a masked copy. AMQP cannot browse, so `rework` takes the queue's messages with
basic.get and holds them unacked (as `dead_letters.peek` does): a replacement is published to
the same queue, confirmed, and only then is the original acked; a dropped message is acked; the
kept ones are requeued in their order at the end. Interrupted anywhere, a message is left where
it was, or there twice (the original and its masked copy), never lost: the broker returns what
a dead channel held unacked. A dry run decides and counts, and requeues everything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from contracts import envelope as h
from processor.ops.dead_letters import PEEK_CAP, depth
from processor.ops.progress import Progress, Silent
from processor.runtime.republish import PUBLISH_TIMEOUT


@dataclass(frozen=True)
class Replace:
    """Publish this body and these headers instead of the message."""

    body: bytes
    headers: dict[str, Any]


KEEP, DROP = "keep", "drop"
Decision = str | Replace


@dataclass
class Reworked:
    """What a pass over one queue did (or, dry, would do)."""

    queue: str
    looked_at: int = 0
    dropped: list[str | None] = field(default_factory=list)  # their message ids
    replaced: list[str | None] = field(default_factory=list)


async def rework(
    channel: AbstractChannel,
    queue_name: str,
    decide: Callable[[AbstractIncomingMessage], Decision],
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> Reworked:
    """Apply `decide` to every message of `queue_name` (up to `PEEK_CAP`). `channel` must
    confirm publishes."""
    queue = await channel.get_queue(queue_name)
    available = min(await depth(channel, queue_name), PEEK_CAP)
    progress = progress if progress is not None else Silent()
    progress.reset(total=available)
    result, kept = Reworked(queue_name), []
    try:
        while result.looked_at < available:
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            result.looked_at += 1
            kept.append(message)  # until it is dealt with: a failure requeues it
            decision = decide(message)
            if decision == KEEP or dry_run:
                _count(result, message, decision)
            else:
                await _carry_out(channel, queue_name, message, decision)
                _count(result, message, decision)
                kept.pop()
            progress.update(1)
    finally:
        for message in kept:
            with contextlib.suppress(aio_pika.exceptions.ChannelInvalidStateError):
                await message.nack(requeue=True)
    return result


def _count(result: Reworked, message: AbstractIncomingMessage, decision: Decision) -> None:
    if decision == DROP:
        result.dropped.append(message.message_id)
    elif isinstance(decision, Replace):
        result.replaced.append(message.message_id)


async def _carry_out(
    channel: AbstractChannel, queue: str, message: AbstractIncomingMessage, decision: Decision
) -> None:
    if isinstance(decision, Replace):
        copy = aio_pika.Message(
            decision.body,
            headers=decision.headers,
            message_id=message.message_id,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            timestamp=message.timestamp,
            app_id=message.app_id,
        )
        await channel.default_exchange.publish(copy, queue, mandatory=True, timeout=PUBLISH_TIMEOUT)
    await message.ack()  # only now: the copy, if any, is confirmed


def held_since(message: AbstractIncomingMessage) -> datetime | None:
    """When a held message last failed (a dead letter) or was received (unrouted); None when
    nothing on it says, and such a message is never taken for old."""
    headers = message.headers or {}
    for key in (h.HEADER_LAST_FAILED_AT, h.HEADER_RECEIVED_AT):
        value = headers.get(key)
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        if isinstance(text, str):
            with contextlib.suppress(ValueError):
                parsed = datetime.fromisoformat(text)
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    stamp = message.timestamp
    if stamp is not None:
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    return None
