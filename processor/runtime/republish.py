"""Publish a copy of a received message, persistent, and return only once RabbitMQ confirmed it.

Retries, dead letters, replays and moves out of `<ns>.unrouted` all hand a message on this way:
the original is acked only after this returns, so a crash in between duplicates a message (the
inbox absorbs it) and never loses one.
"""

from __future__ import annotations

from typing import Any

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage

# Seconds to wait for the broker's confirm before the caller treats the publish as failed.
PUBLISH_TIMEOUT = 10.0


async def publish_copy(
    exchange: AbstractExchange,
    message: AbstractIncomingMessage,
    routing_key: str,
    headers: dict[str, Any],
) -> None:
    """Publish `message`'s body and properties with `headers` under `routing_key`, confirmed."""
    copy = aio_pika.Message(
        message.body,
        headers=headers,
        message_id=message.message_id,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        timestamp=message.timestamp,
        app_id=message.app_id,
    )
    await exchange.publish(copy, routing_key, mandatory=True, timeout=PUBLISH_TIMEOUT)
