"""The coalescing writer: many publishes in few writes, and each still gets its own answer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aio_pika
import aiormq
import pytest
from aiormq.abc import ChannelFrame
from aiormq.exceptions import DeliveryError, PublishError
from pamqp.commands import Basic

from contracts import Recipient, WebhookEnvelope
from contracts.brokers import Brokers
from contracts.topology import Topology
from ingress.confirms import Confirmation, ConfirmWriter
from ingress.publisher import BrokerUnavailable, Publisher
from tests.conftest import Services
from tests.integration.conftest import eventually

pytestmark = pytest.mark.integration

WAIT = 30.0  # seconds any answer may take on a busy machine; a hang fails the test


@pytest.fixture
async def channel(services: Services) -> AsyncIterator[aiormq.Channel]:
    connection = await aiormq.connect(services.amqp_url)
    try:
        opened = await connection.channel(publisher_confirms=True)
        assert isinstance(opened, aiormq.Channel)
        yield opened
    finally:
        await connection.close()


@pytest.fixture
async def queue(services: Services) -> AsyncIterator[str]:
    """A private queue's name; the test declares it, this deletes it."""
    name = f"t{uuid.uuid4().hex[:10]}.confirms"
    yield name
    connection = await aio_pika.connect(services.amqp_url)
    async with connection:
        await (await connection.channel()).queue_delete(name)


def _properties(message_id: str) -> Basic.Properties:
    return Basic.Properties(message_id=message_id, delivery_mode=2)


async def _answers(confirmations: list[Confirmation]) -> None:
    _, waiting = await asyncio.wait(confirmations, timeout=WAIT)
    assert not waiting, f"{len(waiting)} publishes got no answer"


async def _received(channel: aiormq.Channel, queue: str, count: int) -> set[str]:
    ids: set[str] = set()
    for _ in range(count):
        message = await channel.basic_get(queue, no_ack=True)
        assert message.header.properties.message_id is not None
        ids.add(message.header.properties.message_id)
    return ids


async def test_a_thousand_concurrent_publishes_each_get_their_own_confirm(
    services: Services, namespace: str
) -> None:
    topology = Topology(namespace)
    publisher = Publisher(
        Brokers.parse(services.amqp_url), topology, confirm_timeout=WAIT, linger=0.005
    )
    publisher.start()
    connection = await aio_pika.connect(services.amqp_url)
    try:
        await eventually(lambda: _is_ready(publisher))
        amqp = await connection.channel()
        envelopes = [
            WebhookEnvelope(
                recipient=Recipient.SELLER, event_type="order_created", body=b"{}", order_group_id=n
            )
            for n in range(1000)
        ]
        queue = await amqp.declare_queue(f"{namespace}.seller.order_created", durable=True)
        await queue.bind(topology.webhooks_exchange, envelopes[0].routing_key)
        now = datetime.now(UTC)
        await asyncio.gather(*(publisher.publish(envelope, now) for envelope in envelopes))
        got = await _received(await amqp.get_underlay_channel(), queue.name, 1000)  # type: ignore[arg-type]
        assert got == {envelope.message_id for envelope in envelopes}
    finally:
        await connection.close()
        await publisher.close()


async def _is_ready(publisher: Publisher) -> bool:
    return publisher.ready


async def test_a_nack_fails_only_the_messages_the_broker_refused(
    channel: aiormq.Channel, queue: str
) -> None:
    await channel.queue_declare(
        queue, arguments={"x-max-length": 100, "x-overflow": "reject-publish"}
    )
    writer = ConfirmWriter(channel, linger=0.005)
    ids = [f"m{n}" for n in range(300)]
    confirmations = [
        writer.publish(
            b"x", exchange="", routing_key=queue, properties=_properties(i), mandatory=False
        )
        for i in ids
    ]
    await _answers(confirmations)
    acked = {i for i, c in zip(ids, confirmations, strict=True) if c.exception() is None}
    nacked = [c.exception() for c in confirmations if c.exception() is not None]
    assert len(acked) == 100
    assert all(isinstance(e, DeliveryError) and isinstance(e.frame, Basic.Nack) for e in nacked)
    assert await _received(channel, queue, 100) == acked  # the acked are the ones stored


async def test_a_return_fails_only_the_unroutable_message(
    channel: aiormq.Channel, queue: str
) -> None:
    await channel.queue_declare(queue)
    writer = ConfirmWriter(channel, linger=0.005)
    routable = [
        writer.publish(
            b"x", exchange="", routing_key=queue, properties=_properties(f"r{n}"), mandatory=True
        )
        for n in range(50)
    ]
    unroutable = writer.publish(
        b"x",
        exchange="",
        routing_key=f"{queue}.nobody",
        properties=_properties("lost"),
        mandatory=True,
    )
    await _answers([*routable, unroutable])
    assert isinstance(unroutable.exception(), PublishError)
    assert all(c.exception() is None for c in routable)
    assert "lost" not in channel.message_id_delivery_tag  # nothing left behind


async def test_a_closed_channel_fails_every_pending_publish_at_once(
    channel: aiormq.Channel, queue: str
) -> None:
    await channel.queue_declare(queue)
    writer = ConfirmWriter(channel, linger=WAIT)  # nothing is written before the close
    pending = [
        writer.publish(
            b"x", exchange="", routing_key=queue, properties=_properties(f"p{n}"), mandatory=True
        )
        for n in range(200)
    ]
    await channel.close()
    await _answers(pending)
    assert all(c.exception() is not None for c in pending)
    after = writer.publish(
        b"x", exchange="", routing_key=queue, properties=_properties("late"), mandatory=True
    )
    assert after.done()
    assert after.exception() is not None


async def test_the_broker_closing_the_channel_answers_every_publish_of_the_write(
    channel: aiormq.Channel, queue: str
) -> None:
    """A publish to a missing exchange closes the channel mid-write: nobody waits forever."""
    await channel.queue_declare(queue)
    writer = ConfirmWriter(channel, linger=0.005)

    def send(exchange: str, n: int) -> Confirmation:
        return writer.publish(
            b"x",
            exchange=exchange,
            routing_key=queue,
            properties=_properties(f"c{n}"),
            mandatory=True,
        )

    before = [send("", n) for n in range(20)]
    doomed = send(f"{queue}.missing", 20)
    after = [send("", n) for n in range(21, 40)]
    await _answers([*before, doomed, *after])
    assert doomed.exception() is not None
    assert all(c.exception() is not None for c in after)


async def test_the_publisher_answers_unavailable_once_its_channel_closed(
    services: Services, namespace: str
) -> None:
    publisher = Publisher(
        Brokers.parse(services.amqp_url), Topology(namespace), confirm_timeout=WAIT, linger=WAIT
    )
    publisher.start()
    try:
        await eventually(lambda: _is_ready(publisher))
        envelope = WebhookEnvelope(
            recipient=Recipient.SELLER, event_type="order_created", body=b"{}", order_group_id=1
        )
        waiting = [
            asyncio.create_task(publisher.publish(envelope, datetime.now(UTC))) for _ in range(50)
        ]
        await asyncio.sleep(0)  # every publish queued in the writer, none written (long linger)
        channel = publisher._channel
        assert channel is not None
        await channel.close()
        done, _ = await asyncio.wait(waiting, timeout=WAIT)
        assert len(done) == len(waiting)
        assert all(isinstance(task.exception(), BrokerUnavailable) for task in done)
    finally:
        await publisher.close()


async def test_publishes_queued_together_leave_in_one_write(
    channel: aiormq.Channel, queue: str
) -> None:
    await channel.queue_declare(queue)
    writes: list[bytes] = []
    put = channel.write_queue.put_nowait

    def counted(frame: ChannelFrame) -> None:
        writes.append(frame.payload)
        put(frame)

    channel.write_queue.put_nowait = counted  # type: ignore[method-assign,assignment]
    writer = ConfirmWriter(channel, linger=0.005)
    confirmations = [
        writer.publish(
            b"x", exchange="", routing_key=queue, properties=_properties(f"w{n}"), mandatory=True
        )
        for n in range(100)
    ]
    await _answers(confirmations)
    assert all(c.exception() is None for c in confirmations)
    assert len(writes) == 1
    assert await _received(channel, queue, 100) == {f"w{n}" for n in range(100)}
