"""Publish a copy of a received message, persistent, and return only once RabbitMQ confirmed it.

Retries, dead letters, replays and moves out of `<ns>.unrouted` all hand a message on this way:
the original is acked only after this returns, so a crash in between duplicates a message (the
inbox absorbs it) and never loses one.

The processor publishes on a connection of its own (`Publisher`), as RabbitMQ advises: during a
memory or disk alarm the broker blocks connections that publish, and a blocked consuming
connection would stop the acks of committed work and every new delivery. While its connection is
blocked, a copy waits for the alarm to end (its original stays unacked) instead of timing out and
being published again, which would leave a second copy behind once the alarm ends.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
)

# Seconds to wait for the broker's confirm before the caller treats the publish as failed.
PUBLISH_TIMEOUT = 10.0
# How long "is the connection ready?" may take before it counts as "no": blocked or gone.
_READY_CHECK = 0.1


def _copy(message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
    return aio_pika.Message(
        message.body,
        headers=headers,
        message_id=message.message_id,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        timestamp=message.timestamp,
        app_id=message.app_id,
    )


async def publish_copy(
    exchange: AbstractExchange,
    message: AbstractIncomingMessage,
    routing_key: str,
    headers: dict[str, Any],
) -> None:
    """Publish `message`'s body and properties with `headers` under `routing_key`, confirmed."""
    copy = _copy(message, headers)
    await exchange.publish(copy, routing_key, mandatory=True, timeout=PUBLISH_TIMEOUT)


@dataclass
class Publisher:
    """The processor's publishing channel, on a connection that consumes nothing."""

    connection: AbstractConnection
    channel: AbstractChannel  # publisher confirms on, unroutable copies raise

    async def copy(
        self, message: AbstractIncomingMessage, routing_key: str, headers: dict[str, Any]
    ) -> None:
        """Publish a copy to the default exchange and wait for its confirm.

        Waits as long as the broker blocks the connection; raises `TimeoutError` when an
        unblocked broker does not confirm within `PUBLISH_TIMEOUT`, and a connection error when
        the connection or channel is lost: the caller then requeues the original.
        """
        await self._until_unblocked()
        exchange = self.channel.default_exchange
        confirm = asyncio.ensure_future(
            exchange.publish(_copy(message, headers), routing_key, mandatory=True)
        )
        try:
            while True:
                done, _ = await asyncio.wait({confirm}, timeout=PUBLISH_TIMEOUT)
                if done:
                    confirm.result()
                    return
                if await self._ready():
                    raise TimeoutError("no confirm from an unblocked broker")
                # blocked since the copy was written: it waits in the broker's buffer, and its
                # confirm comes once the alarm ends; publishing again would make a second copy
        finally:
            if not confirm.done():
                confirm.cancel()

    async def _until_unblocked(self) -> None:
        """Until the broker stops blocking the connection; raises when the connection closes."""
        while not await self._ready():
            if self.connection.is_closed:
                raise ConnectionError("publishing connection closed")

    async def _ready(self) -> bool:
        transport = getattr(self.connection, "transport", None)
        if transport is None or self.connection.is_closed:
            return False
        try:
            # aiormq's `ready()`: connected, and not blocked by a resource alarm
            await asyncio.wait_for(transport.connection.ready(), _READY_CHECK)
        except TimeoutError:
            return False
        return True
