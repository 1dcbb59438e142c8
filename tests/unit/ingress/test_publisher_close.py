"""A stop while the publisher's first connect is in flight ends the ingress, even when the AMQP
client turns the cancellation into a connection error (aiormq does)."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest
from aiormq.exceptions import AMQPConnectionError

from contracts import Topology
from contracts.brokers import Brokers
from ingress.publisher import Publisher


async def test_close_during_a_connect_that_swallows_the_cancellation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connecting = asyncio.Event()

    async def connect(*_args: object, **_kwargs: object) -> aio_pika.abc.AbstractConnection:
        connecting.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise AMQPConnectionError("cancelled while connecting") from None
        raise AssertionError("never reached")

    monkeypatch.setattr(aio_pika, "connect", connect)  # what the publisher calls
    publisher = Publisher(
        Brokers.parse("amqp://guest:guest@127.0.0.1:1/"), Topology("unit"), confirm_timeout=1
    )
    publisher.start()
    await asyncio.wait_for(connecting.wait(), timeout=5)
    closing = asyncio.create_task(publisher.close())
    # asyncio.wait, not wait_for: a close that never ends must fail the test, not hang it.
    done, _ = await asyncio.wait({closing}, timeout=5)
    assert closing in done, "close() waits for a connect loop that goes on"
