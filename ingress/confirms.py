"""One writer for every confirmed publish on a channel: many messages in one socket write.

aiormq's `basic_publish` holds the channel's lock across its write and the socket's drain, so
concurrent confirmed publishes leave one at a time, one write each, and a busy ingress waits on
that lock rather than on its CPU. This writer owns every publish on its channel instead: it
numbers each message (the broker numbers confirms in the order it receives publishes), registers
the number's future where aiormq's reader resolves `Basic.Ack`, `Basic.Nack` and `Basic.Return`,
and writes every frame pending after a short linger in one write. Each caller still awaits the
broker's answer for its own message; the channel closing rejects every future at once (they are
the channel's own futures, which aiormq rejects when it closes).

It leans on aiormq internals (`confirmations`, `message_id_delivery_tag`, `delivery_tag`,
`write_queue`, `ChannelFrame`): aiormq is pinned exactly, and tests/unit/ingress/
test_aiormq_internals.py fails when one of them changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiormq
from aiormq.abc import AbstractChannel, ChannelFrame, ConfirmationFrameType
from pamqp.body import ContentBody
from pamqp.commands import Basic
from pamqp.frame import marshal
from pamqp.header import ContentHeader

METHOD_CACHE_SIZE = 256  # routing keys come from a few event types; a bound all the same
FULL_QUEUE_RETRY = 0.001  # seconds before trying again when aiormq's write queue is full

Confirmation = asyncio.Future[ConfirmationFrameType]


class ConfirmWriter:
    """Every publish of one confirming channel, coalesced; bound to that channel's life."""

    def __init__(self, channel: AbstractChannel, *, linger: float) -> None:
        if not isinstance(channel, aiormq.Channel):
            raise TypeError(f"an aiormq.Channel is needed, not a {type(channel).__name__}")
        if not channel.publisher_confirms:
            raise ValueError("the channel must be in confirm mode")
        self._channel = channel
        self._linger = linger
        self._loop = asyncio.get_running_loop()
        self._methods: dict[tuple[str, str, bool], bytes] = {}
        self._pending: list[bytes] = []
        self._scheduled = False  # a flush is due (timer or next loop turn)
        self._writing = False  # a write is in aiormq's queue, not yet drained to the socket

    def publish(
        self,
        body: bytes,
        *,
        exchange: str,
        routing_key: str,
        properties: Basic.Properties,
        mandatory: bool,
    ) -> Confirmation:
        """Queue one message; the future gets the broker's `Basic.Ack`, or its error.

        A `Basic.Nack` sets `aiormq.exceptions.DeliveryError`, a `Basic.Return` (mandatory and
        unroutable) `aiormq.exceptions.PublishError`, a closed channel the channel's close reason.
        """
        channel = self._channel
        number = channel.number
        # Created by the channel: rejected by aiormq when the channel closes, at once if closed.
        confirmation: Confirmation = channel.create_future()
        if confirmation.done():
            return confirmation
        channel.delivery_tag += 1
        tag = channel.delivery_tag
        channel.confirmations[tag] = confirmation
        message_id = properties.message_id
        if message_id:
            # aiormq's reader finds a returned message's confirmation by its message_id.
            channel.message_id_delivery_tag[message_id] = tag
            confirmation.add_done_callback(lambda _: self._forget(message_id, tag))
        header = ContentHeader(body_size=len(body), properties=properties)
        pending = self._pending
        pending.append(self._method(exchange, routing_key, mandatory, number))
        pending.append(marshal(header, number))
        limit = channel.max_content_size
        for start in range(0, len(body), limit):
            pending.append(marshal(ContentBody(body[start : start + limit]), number))
        self._schedule()
        return confirmation

    def _method(self, exchange: str, routing_key: str, mandatory: bool, number: int) -> bytes:
        key = (exchange, routing_key, mandatory)
        frame = self._methods.get(key)
        if frame is None:
            if len(self._methods) >= METHOD_CACHE_SIZE:
                self._methods.clear()
            publish = Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=mandatory)
            frame = self._methods[key] = marshal(publish, number)
        return frame

    def _forget(self, message_id: str, tag: int) -> None:
        tags = self._channel.message_id_delivery_tag
        if tags.get(message_id) == tag:
            del tags[message_id]

    def _schedule(self, delay: float | None = None) -> None:
        if self._scheduled or self._writing:
            return  # the write in flight schedules the next one when it is drained
        self._scheduled = True
        delay = self._linger if delay is None else delay
        if delay > 0:
            self._loop.call_later(delay, self._flush)
        else:
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        channel = self._channel
        if channel.is_closed:
            self._pending.clear()  # their futures were rejected with the channel's
            return
        # The channel's future too: a close rejects it, and the next write is scheduled then.
        drained: asyncio.Future[Any] = channel.create_future()
        frame = ChannelFrame(
            payload=b"".join(self._pending), should_close=False, drain_future=drained
        )
        try:
            channel.write_queue.put_nowait(frame)
        except asyncio.QueueFull:
            drained.cancel()
            self._schedule(FULL_QUEUE_RETRY)
            return
        self._pending.clear()
        self._writing = True
        drained.add_done_callback(self._drained)

    def _drained(self, _: asyncio.Future[Any]) -> None:
        self._writing = False
        if self._pending:
            # What came during the write goes at once: it has lingered that long already.
            self._schedule(0)
